"""The circuit breaker of a retry policy: stop retrying when retries stop helping.

It trips when, among the policy's last `breaker_window` retries whose outcome is known, at
least `breaker_min_sample` are known and fewer than `breaker_min_success_percent` ended done;
or when `breaker_exhausted_items` items used every allowed attempt and failed again within
the last hour (the same items keep failing). Opening it pauses the policy (state
breaker_open), records why, audits, and sends `signals.breaker_opened`.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.utils import timezone

from dashboard.audit.services import Actor, record_by
from dashboard.mirror.models import FailureOccurrence
from dashboard.policies.models import PolicyClaim, PolicyEvent, RetryPolicy
from dashboard.policies.signals import breaker_opened

logger = logging.getLogger(__name__)
Outcome = FailureOccurrence.Outcome


def recent_outcomes(policy: RetryPolicy) -> tuple[int, int]:
    """Return (done, known) over the policy's last `breaker_window` retries with an outcome."""
    outcomes = list(
        PolicyClaim.objects.filter(
            policy=policy,
            state=PolicyClaim.State.SENT,
            occurrence__outcome__in=(Outcome.DONE, Outcome.FAILED_AGAIN),
        )
        .order_by("-created_at", "-pk")
        .values_list("occurrence__outcome", flat=True)[: policy.breaker_window]
    )
    return sum(o == Outcome.DONE for o in outcomes), len(outcomes)


def exhausted_items(policy: RetryPolicy, now: datetime) -> int:
    """Items whose last allowed retry by this policy failed again within the last hour."""
    return (
        PolicyClaim.objects.filter(
            policy=policy,
            state=PolicyClaim.State.SENT,
            attempt__gte=policy.max_attempts,
            occurrence__outcome=Outcome.FAILED_AGAIN,
            occurrence__outcome_at__gte=now - timedelta(hours=1),
        )
        .values("work_item_id")
        .distinct()
        .count()
    )


def trip_reason(policy: RetryPolicy, now: datetime) -> str:
    """Why the breaker should open now ("" = it should not)."""
    done, known = recent_outcomes(policy)
    if known and known >= policy.breaker_min_sample:
        percent = 100 * done / known
        if percent < policy.breaker_min_success_percent:
            return (
                f"only {done} of the last {known} retries succeeded "
                f"({percent:.0f}% < {policy.breaker_min_success_percent}%)"
            )
    if policy.breaker_exhausted_items:
        n = exhausted_items(policy, now)
        if n >= policy.breaker_exhausted_items:
            return (
                f"{n} items failed again after all {policy.max_attempts} attempts "
                "within the last hour"
            )
    return ""


def pause(policy: RetryPolicy, message: str) -> bool:
    """Pause an enabled policy on its own (its acting member may not act any more)."""
    changed = RetryPolicy.objects.filter(
        pk=policy.pk, state=RetryPolicy.State.ENABLED
    ).update(
        state=RetryPolicy.State.PAUSED,
        state_reason=message[:300],
        state_changed_at=timezone.now(),
    )
    if not changed:
        return False
    policy.state, policy.state_reason = RetryPolicy.State.PAUSED, message[:300]
    PolicyEvent.objects.create(
        policy=policy,
        kind="paused",
        message=message[:500],
        actor_label=policy.actor_label,
    )
    record_by(
        Actor(label=policy.actor_label),
        team=policy.team,
        action="policy.pause",
        obj=policy,
        summary=f"Retry policy {policy.name}: {message}",
        data={"policy_id": policy.pk},
    )
    return True


def open_breaker(policy: RetryPolicy, reason: str) -> bool:
    """Open the breaker of an enabled policy; return False if it was not enabled any more."""
    now = timezone.now()
    message = f"Breaker opened: {reason}."[:300]
    changed = RetryPolicy.objects.filter(
        pk=policy.pk, state=RetryPolicy.State.ENABLED
    ).update(
        state=RetryPolicy.State.BREAKER_OPEN, state_reason=message, state_changed_at=now
    )
    if not changed:
        return False
    policy.state, policy.state_reason = RetryPolicy.State.BREAKER_OPEN, message
    PolicyEvent.objects.create(
        policy=policy,
        kind="breaker_opened",
        message=message,
        actor_label=policy.actor_label,
    )
    record_by(
        Actor(label=policy.actor_label),
        team=policy.team,
        action="policy.breaker_opened",
        obj=policy,
        summary=f"Retry policy {policy.name}: {message}",
        data={"policy_id": policy.pk, "reason": reason},
    )
    breaker_opened.send_robust(sender=RetryPolicy, policy=policy, reason=message)
    logger.warning("retry policy %s paused: %s", policy.pk, message)
    return True
