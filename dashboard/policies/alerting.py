"""What retry policies tell the alerts floor below: a breaker that opened (a pushed event,
recovered when the policy is enabled again) and the daily digest's "retried by policies"
section. Registered in PoliciesConfig.ready() through hooks.register()."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone

from dashboard.accounts.models import Team
from dashboard.alerts import services as alerts
from dashboard.alerts.extensions import DigestSection
from dashboard.mirror.models import FailureOccurrence
from dashboard.policies.models import PolicyClaim, RetryPolicy

BREAKER_EVENT = "policy_breaker_opened"


def breaker_key(policy: RetryPolicy) -> str:
    return f"policy:{policy.pk}"


def on_breaker_opened(
    sender: Any, policy: RetryPolicy, reason: str, **kwargs: Any
) -> None:
    """`breaker_opened` receiver: raise the team's pushed event once the pause is committed."""
    transaction.on_commit(lambda: _emit(policy, reason), robust=True)


def _emit(policy: RetryPolicy, reason: str) -> None:
    alerts.emit(
        policy.team,
        BREAKER_EVENT,
        breaker_key(policy),
        f"Retry policy '{policy.name}' paused itself (breaker opened)",
        reason,
        reverse("policies-detail", args=[policy.pk]),
    )


def breaker_closed(policy: RetryPolicy) -> None:
    """The policy was enabled again: its breaker alert, if open, recovers."""
    alerts.resolve(policy.team, BREAKER_EVENT, breaker_key(policy))


def digest_section(team: Team, day: date) -> DigestSection:
    """Per policy: failures it retried on `day` (UTC) and what became of them."""
    start = datetime.combine(day, time.min, tzinfo=timezone.get_fixed_timezone(0))
    sent = PolicyClaim.objects.filter(
        policy__team=team,
        state=PolicyClaim.State.SENT,
        finished_at__gte=start,
        finished_at__lt=start + timedelta(days=1),
    )
    rows = (
        sent.values("policy__name")
        .annotate(
            n=Count("id"),
            done=Count(
                "id", filter=Q(occurrence__outcome=FailureOccurrence.Outcome.DONE)
            ),
            again=Count(
                "id",
                filter=Q(occurrence__outcome=FailureOccurrence.Outcome.FAILED_AGAIN),
            ),
        )
        .order_by("-n", "policy__name")
    )
    lines = [
        f"{r['policy__name']}: retried {r['n']}, done {r['done']}, failed again {r['again']}"
        for r in rows
    ]
    opened = RetryPolicy.objects.filter(
        team=team, state=RetryPolicy.State.BREAKER_OPEN
    ).values_list("name", flat=True)
    lines += [f"{name}: paused by its breaker" for name in opened]
    return DigestSection("Retried by policies", lines, "No policy retried anything.")
