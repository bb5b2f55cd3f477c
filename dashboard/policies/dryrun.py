"""Dry run: replay a policy over the last N days of attempt history (FailureOccurrence).

Which items it would have retried, how many attempts, which it would have given up on, what
its hourly cap and quiet hours would have held back, and how retries of the matched codes
actually fared (retries by anyone: a person, a bulk operation, another policy). Reads the
mirror only; nothing is sent. Shared by the policy form (before enabling), the policy page
and `manage.py policy_dry_run`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.utils import timezone

from dashboard.mirror import conf as mirror_conf
from dashboard.mirror.models import FailureOccurrence, Process
from dashboard.policies.matching import (
    Candidate,
    after_quiet_hours,
    due_at,
    in_quiet_hours,
    matches,
)
from dashboard.policies.models import RetryPolicy

MAX_DAYS = 90
SAMPLE_SIZE = 50
Outcome = FailureOccurrence.Outcome


@dataclass(frozen=True)
class ItemReplay:
    work_item_id: int
    external_id: str
    process_name: str
    workspace_name: str
    exception_code: str
    failures: int
    attempts: int
    gives_up: bool


@dataclass(frozen=True)
class CodeRate:
    code: str
    retried: int
    succeeded: int

    @property
    def percent(self) -> int | None:
        return round(100 * self.succeeded / self.retried) if self.retried else None


@dataclass
class DryRun:
    days: int
    since: datetime
    # Settled failures older than this are pruned with the sync history.
    history_days: int = 0
    failures: int = 0
    items: int = 0
    attempts: int = 0
    gives_up: int = 0
    held_by_hourly_cap: int = 0
    delayed_by_quiet_hours: int = 0
    rates: list[CodeRate] = field(default_factory=list)
    sample: list[ItemReplay] = field(default_factory=list)
    # Process names of the policy no workspace of the team has (names match exactly).
    unknown_processes: list[str] = field(default_factory=list)

    @property
    def beyond_history(self) -> bool:
        return self.days > self.history_days

    @property
    def retried(self) -> int:
        return sum(r.retried for r in self.rates)

    @property
    def succeeded(self) -> int:
        return sum(r.succeeded for r in self.rates)

    @property
    def percent(self) -> int | None:
        return round(100 * self.succeeded / self.retried) if self.retried else None


def dry_run(policy: RetryPolicy, workspace_ids: Sequence[int], days: int) -> DryRun:
    """Replay `policy` (saved or not) over its team's last `days` days of failures.

    `workspace_ids` are the workspaces it covers (empty: all of the team's), given
    explicitly so an unsaved form can be replayed.
    """
    days = max(1, min(days, MAX_DAYS))
    since = timezone.now() - timedelta(days=days)
    result = DryRun(days=days, since=since, history_days=mirror_conf.history_days())
    rows = (
        FailureOccurrence.objects.filter(
            workspace__team_id=policy.team_id, seen_at__gte=since
        )
        .select_related("work_item", "work_item__process", "workspace")
        .order_by("work_item_id", "number")
    )
    if workspace_ids:
        rows = rows.filter(workspace_id__in=list(workspace_ids))
    matched: dict[int, list[FailureOccurrence]] = defaultdict(list)
    by_code: dict[str, Counter[str]] = defaultdict(Counter)
    for occ in rows.iterator(chunk_size=2000):
        by_code[occ.exception_code][_retry_result(occ)] += 1
        if matches(policy, _candidate(occ), workspace_ids):
            matched[occ.work_item_id].append(occ)
    dues: list[datetime] = []
    for failures in matched.values():
        _replay_item(policy, failures, result, dues)
    _hourly_cap(policy, dues, result)
    codes = sorted({f[0].exception_code for f in matched.values()})
    result.rates = [
        CodeRate(
            code, by_code[code]["done"] + by_code[code]["failed"], by_code[code]["done"]
        )
        for code in codes
    ]
    result.unknown_processes = _unknown_processes(policy)
    return result


def _unknown_processes(policy: RetryPolicy) -> list[str]:
    if not policy.process_names:
        return []
    known = set(
        Process.objects.filter(
            workspace__team_id=policy.team_id, name__in=policy.process_names
        ).values_list("name", flat=True)
    )
    return [name for name in policy.process_names if name not in known]


def _retry_result(occ: FailureOccurrence) -> str:
    if occ.retried_at is None:
        return "not_retried"
    if occ.outcome == Outcome.DONE:
        return "done"
    if occ.outcome == Outcome.FAILED_AGAIN:
        return "failed"
    return "unknown"


def _candidate(occ: FailureOccurrence) -> Candidate:
    item = occ.work_item
    return Candidate(
        workspace_id=occ.workspace_id,
        work_item_id=item.pk,
        external_id=item.external_id,
        process_id=item.process_id,
        process_name=item.process.name,
        number=occ.number,
        exception_type=occ.exception_type,
        exception_code=occ.exception_code,
        exception_message=occ.exception_message,
        failed_at=occ.failed_at,
        seen_at=occ.seen_at,
        item_created_at=item.created_at,
        occurrence_id=occ.pk,
    )


def _replay_item(
    policy: RetryPolicy,
    failures: list[FailureOccurrence],
    result: DryRun,
    dues: list[datetime],
) -> None:
    """Each matched failure of an item would have been one attempt, up to the cap."""
    attempts = min(len(failures), policy.max_attempts)
    last = failures[-1]
    # It gives up when the cap is reached and the item failed after the last attempt.
    gives_up = len(failures) > policy.max_attempts or (
        attempts == policy.max_attempts and last.outcome != Outcome.DONE
    )
    for n, occ in enumerate(failures[:attempts], start=1):
        due = due_at(policy, _candidate(occ), n)
        if in_quiet_hours(policy, due):
            result.delayed_by_quiet_hours += 1
            due = after_quiet_hours(policy, due)
        dues.append(due)
    result.failures += len(failures)
    result.items += 1
    result.attempts += attempts
    result.gives_up += gives_up
    if len(result.sample) < SAMPLE_SIZE:
        item = last.work_item
        result.sample.append(
            ItemReplay(
                item.pk,
                item.external_id,
                item.process.name,
                last.workspace.name,
                last.exception_code,
                len(failures),
                attempts,
                gives_up,
            )
        )


def _hourly_cap(policy: RetryPolicy, dues: list[datetime], result: DryRun) -> None:
    """Attempts beyond max_items_per_hour in any clock hour would have waited."""
    per_hour = Counter(d.replace(minute=0, second=0, microsecond=0) for d in dues)
    result.held_by_hourly_cap = sum(
        max(0, n - policy.max_items_per_hour) for n in per_hour.values()
    )
