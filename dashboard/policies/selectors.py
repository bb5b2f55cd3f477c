"""Reading retry policies for the pages: lists, activity, the item history section and
the explorer's "policy X will retry at 10:35 (attempt 2 of 3)" notes."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime
from itertools import chain
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from dashboard.accounts.models import Team
from dashboard.mirror.models import FailureOccurrence, Process, WorkItem
from dashboard.policies.matching import (
    Candidate,
    after_quiet_hours,
    due_at,
    matches,
)
from dashboard.policies.models import PolicyClaim, PolicyEvent, RetryPolicy

ACTIVITY_LIMIT = 50


def policies_of(team: Team) -> QuerySet[RetryPolicy]:
    return (
        RetryPolicy.objects.filter(team=team)
        .prefetch_related("workspaces")
        .annotate(
            retried=Count("claims", filter=Q(claims__state=PolicyClaim.State.SENT))
        )
        .order_by("name", "pk")
    )


KIND_LABELS = {
    "sent": "retried",
    "claimed": "in flight",
    "breaker_opened": "breaker opened",
    "enable": "enabled",
    "pause": "paused",
    "disable": "disabled",
}


@dataclass(frozen=True)
class ActivityRow:
    at: datetime
    kind: str  # sent | skipped | failed | claimed | an event kind
    text: str
    item: WorkItem | None = None
    attempt: int = 0
    outcome: str = ""

    @property
    def label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind.replace("_", " "))


def activity(policy: RetryPolicy, limit: int = ACTIVITY_LIMIT) -> list[ActivityRow]:
    """The policy's latest retries, skips and events, newest first."""
    claims = [
        ActivityRow(
            c.finished_at or c.created_at,
            c.state,
            c.reason,
            c.work_item,
            c.attempt,
            c.occurrence.get_outcome_display()
            if c.occurrence is not None and c.occurrence.outcome
            else "",
        )
        for c in PolicyClaim.objects.filter(policy=policy)
        .select_related("work_item", "occurrence")
        .order_by("-created_at", "-pk")[:limit]
    ]
    events = [
        ActivityRow(e.created_at, e.kind, e.message)
        for e in PolicyEvent.objects.filter(policy=policy)[:limit]
    ]
    return sorted(chain(claims, events), key=lambda r: r.at, reverse=True)[:limit]


def success_counts(policy: RetryPolicy) -> dict[str, int]:
    """Outcomes of the policy's retries: done, failed again, pending (not known yet)."""
    rows = Counter(
        PolicyClaim.objects.filter(
            policy=policy, state=PolicyClaim.State.SENT
        ).values_list("occurrence__outcome", flat=True)
    )
    return {
        "done": rows.get(FailureOccurrence.Outcome.DONE, 0),
        "failed_again": rows.get(FailureOccurrence.Outcome.FAILED_AGAIN, 0),
        "pending": sum(
            n
            for outcome, n in rows.items()
            if outcome
            not in (
                FailureOccurrence.Outcome.DONE,
                FailureOccurrence.Outcome.FAILED_AGAIN,
            )
        ),
    }


# --- the item page -------------------------------------------------------------------------


def item_history(item: WorkItem) -> dict[str, Any]:
    """The item's failures (attempt history) and what each policy did about them."""
    return {
        "next_retry": next_retry_notes([item]).get(item.pk, ""),
        "occurrences": list(
            FailureOccurrence.objects.filter(work_item=item).order_by("-number")[:50]
        ),
        "policy_claims": list(
            PolicyClaim.objects.filter(work_item=item)
            .select_related("policy", "policy__team")
            .order_by("-created_at", "-pk")[:50]
        ),
    }


# --- explorer notes ------------------------------------------------------------------------


def next_retry_notes(items: list[WorkItem]) -> dict[int, str]:
    """For failed items a policy will retry: "policy X will retry at 10:35 (attempt 2 of 3)".

    One query when no enabled policy covers the page's workspaces; a few more, whatever the
    page size, when one does."""
    failed = [i for i in items if i.state == "failed" and i.gone_at is None]
    if not failed:
        return {}
    by_team: dict[int, list[tuple[RetryPolicy, list[int]]]] = defaultdict(list)
    team_of: dict[int, int] = {}
    for policy in (
        RetryPolicy.objects.filter(
            state=RetryPolicy.State.ENABLED,
            team__workspaces__in={i.workspace_id for i in failed},
        )
        .distinct()
        .prefetch_related("workspaces", "team__workspaces")
    ):
        by_team[policy.team_id].append(
            (policy, [w.pk for w in policy.workspaces.all()])
        )
        team_of.update((w.pk, policy.team_id) for w in policy.team.workspaces.all())
    if not by_team:
        return {}
    occurrences = {
        o.work_item_id: o
        for o in FailureOccurrence.objects.filter(
            work_item__in=failed,
            outcome=FailureOccurrence.Outcome.OPEN,
            left_failed_at__isnull=True,
        )
    }
    claims = _claims_by_item(list(occurrences))
    names = dict(
        Process.objects.filter(pk__in={i.process_id for i in failed}).values_list(
            "pk", "name"
        )
    )
    notes: dict[int, str] = {}
    for item in failed:
        occ = occurrences.get(item.pk)
        if occ is None:
            continue
        candidate = _candidate(item, occ, names.get(item.process_id, ""))
        for policy, workspace_ids in by_team.get(team_of.get(item.workspace_id, 0), []):
            if matches(policy, candidate, workspace_ids):
                notes[item.pk] = _note(
                    policy, candidate, claims.get((policy.pk, item.pk), [])
                )
                break
    return notes


def _claims_by_item(item_pks: list[int]) -> dict[tuple[int, int], list[PolicyClaim]]:
    found: dict[tuple[int, int], list[PolicyClaim]] = defaultdict(list)
    for claim in PolicyClaim.objects.filter(work_item_id__in=item_pks):
        found[(claim.policy_id, claim.work_item_id)].append(claim)
    return found


def _candidate(item: WorkItem, occ: FailureOccurrence, process_name: str) -> Candidate:
    return Candidate(
        workspace_id=item.workspace_id,
        work_item_id=item.pk,
        external_id=item.external_id,
        process_id=item.process_id,
        process_name=process_name,
        number=occ.number,
        exception_type=occ.exception_type,
        exception_code=occ.exception_code,
        exception_message=occ.exception_message,
        failed_at=occ.failed_at,
        seen_at=occ.seen_at,
        item_created_at=item.created_at,
        occurrence_id=occ.pk,
    )


def _note(policy: RetryPolicy, candidate: Candidate, claims: list[PolicyClaim]) -> str:
    this = [c for c in claims if c.occurrence_number == candidate.number]
    if any(c.state == PolicyClaim.State.CLAIMED for c in this):
        return f"policy {policy.name} is retrying it now"
    if this:
        return f"policy {policy.name}: {this[0].reason or this[0].get_state_display()}"
    used = sum(
        c.state in (PolicyClaim.State.SENT, PolicyClaim.State.CLAIMED) for c in claims
    )
    if used >= policy.max_attempts:
        return f"policy {policy.name}: all {policy.max_attempts} attempts used"
    attempt = used + 1
    when = after_quiet_hours(policy, due_at(policy, candidate, attempt))
    of = f"(attempt {attempt} of {policy.max_attempts})"
    if when <= timezone.now():
        return f"policy {policy.name} will retry after the next sync {of}"
    # Shown in the reader's zone (activated per request), like every time on the page.
    local = timezone.localtime(when)
    today = timezone.localtime().date()
    fmt = "%H:%M" if local.date() == today else "%d %b %H:%M"
    return f"policy {policy.name} will retry at {local.strftime(fmt)} {of}"


@dataclass(frozen=True)
class PolicyDay:
    """What one policy did since a moment: retries sent and how they ended so far."""

    policy: RetryPolicy
    retried: int
    done: int
    failed_again: int


def recent_work(team_ids: list[int], since: datetime) -> list[PolicyDay]:
    """Per policy of these teams: retries sent since `since` and their outcomes (one query),
    plus every policy whose breaker is open even if it sent nothing."""
    sent = (
        PolicyClaim.objects.filter(
            policy__team_id__in=team_ids,
            state=PolicyClaim.State.SENT,
            finished_at__gte=since,
        )
        .values("policy_id")
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
        .order_by()
    )
    counts = {r["policy_id"]: (r["n"], r["done"], r["again"]) for r in sent}
    policies = RetryPolicy.objects.filter(team_id__in=team_ids).filter(
        Q(pk__in=list(counts)) | Q(state=RetryPolicy.State.BREAKER_OPEN)
    )
    rows = [PolicyDay(p, *counts.get(p.pk, (0, 0, 0))) for p in policies]
    return sorted(rows, key=lambda r: (-r.retried, r.policy.name))
