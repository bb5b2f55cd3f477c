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
    rows = FailureOccurrence.objects.filter(
        workspace__team_id=policy.team_id, seen_at__gte=since
    ).order_by("work_item_id", "number")
    if workspace_ids:
        rows = rows.filter(workspace_id__in=list(workspace_ids))
    # Narrowed in SQL where it can be (the rates are only reported for matched codes).
    if policy.exception_codes:
        rows = rows.filter(exception_code__in=policy.exception_codes)
    if policy.process_names:
        rows = rows.filter(work_item__process__name__in=policy.process_names)
    matched: dict[int, list[_Seen]] = defaultdict(list)
    by_code: dict[str, Counter[str]] = defaultdict(Counter)
    # Plain values, not model instances: a week of a big outage is 100,000s of rows.
    for values in rows.values_list(*_SEEN_FIELDS).iterator(chunk_size=2000):
        occ = _Seen(*values)
        by_code[occ.exception_code][_retry_result(occ)] += 1
        if matches(policy, occ.candidate, workspace_ids):
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


_SEEN_FIELDS = (
    "pk",
    "workspace_id",
    "work_item_id",
    "number",
    "exception_type",
    "exception_code",
    "exception_message",
    "failed_at",
    "seen_at",
    "retried_at",
    "outcome",
    "work_item__external_id",
    "work_item__process_id",
    "work_item__created_at",
    "work_item__process__name",
    "workspace__name",
)


@dataclass(frozen=True, slots=True)
class _Seen:
    """One failure occurrence as the replay reads it (`_SEEN_FIELDS`, in order)."""

    pk: int
    workspace_id: int
    work_item_id: int
    number: int
    exception_type: str
    exception_code: str
    exception_message: str
    failed_at: datetime | None
    seen_at: datetime
    retried_at: datetime | None
    outcome: str
    external_id: str
    process_id: int
    item_created_at: datetime
    process_name: str
    workspace_name: str

    @property
    def candidate(self) -> Candidate:
        return Candidate(
            workspace_id=self.workspace_id,
            work_item_id=self.work_item_id,
            external_id=self.external_id,
            process_id=self.process_id,
            process_name=self.process_name,
            number=self.number,
            exception_type=self.exception_type,
            exception_code=self.exception_code,
            exception_message=self.exception_message,
            failed_at=self.failed_at,
            seen_at=self.seen_at,
            item_created_at=self.item_created_at,
            occurrence_id=self.pk,
        )


def _retry_result(occ: _Seen) -> str:
    if occ.retried_at is None:
        return "not_retried"
    if occ.outcome == Outcome.DONE:
        return "done"
    if occ.outcome == Outcome.FAILED_AGAIN:
        return "failed"
    return "unknown"


def _replay_item(
    policy: RetryPolicy,
    failures: list[_Seen],
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
        due = due_at(policy, occ.candidate, n)
        if in_quiet_hours(policy, due):
            result.delayed_by_quiet_hours += 1
            due = after_quiet_hours(policy, due)
        dues.append(due)
    result.failures += len(failures)
    result.items += 1
    result.attempts += attempts
    result.gives_up += gives_up
    if len(result.sample) < SAMPLE_SIZE:
        result.sample.append(
            ItemReplay(
                last.work_item_id,
                last.external_id,
                last.process_name,
                last.workspace_name,
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
