"""Keep the insights rollups in step with the mirror, a sync at a time.

`update_workspace` runs after every sync (`receivers.py` enqueues it): it reads the mirror
rows written since its `Cursor` (new work items, state changes, failure occurrences, runs:
id ranges on primary keys, so the reading is proportional to what the sync wrote), collects
the UTC hours those rows fall in, and recomputes exactly those hours from the mirror
(`_recompute_*`: the rows of one hour through an index). A recomputed hour replaces what was
there, so updating twice, or after a crash half-way, gives the same rollups. A lease on the
cursor row (`lib.leases`) lets one update at a time run per workspace; the recomputation and
the cursor's advance commit together.

`rebuild_workspace` (manage.py rebuild_insights) recomputes every hour of a workspace.

Known limits: the cursor follows primary keys, so a row whose transaction committed after a
later-numbered row had been read is not seen (the sync writes a workspace's rows one page at
a time under its lease; the action core's short writes are the only overlap); an hour that
is recomputed after the mirror pruned its settled failure occurrences
(WORKROOM_SYNC_HISTORY_DAYS) loses them. `rebuild_insights` puts either right.

Definitions (the tests recompute them naively from the mirror):
- done in hour h: items whose state is done, with state_updated_at in h;
- failed in hour h: failure occurrences (FailureOccurrence) whose failed_at (else seen_at)
  is in h; retried_done / retried_failed: of those, retried ones that ended done / failed again;
- resolution: an item's first failure → its done time, binned in its done hour;
- run duration: `duration` (else ended_at - started_at) of ended runs, binned in the hour the
  run was created (a run's end moves when a retry re-opens it; its creation never does).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Max, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce, TruncHour
from django.utils import timezone

from dashboard.insights import histogram
from dashboard.insights.models import CodeRollup, Cursor, DurationRollup, HourRollup
from dashboard.lib.leases import Lease
from dashboard.mirror.models import (
    FailureOccurrence,
    ProcessRun,
    WorkItem,
    WorkItemStateChange,
)
from dashboard.mirror.services.dbwrite import analyze
from dashboard.workspaces.models import Workspace

HOUR = timedelta(hours=1)
CHUNK = 5000  # rows read per query when following a cursor
RANGES_PER_QUERY = 200
LEASE_SECONDS = 1200  # longer than the task's hard time limit (900 s)
# A run whose details a sync read since the last update gets its hour recomputed; runs
# are looked for among those created this long before (an index range, not every run).
RUN_LOOKBACK = timedelta(days=7)
# Clock slack between a sync's "read started" stamp and the update's start.
RUN_MARGIN = timedelta(minutes=10)

Outcome = FailureOccurrence.Outcome


@dataclass
class Dirty:
    """The UTC hours to recompute, per kind of source."""

    items: set[datetime] = field(default_factory=set)
    failures: set[datetime] = field(default_factory=set)
    runs: set[datetime] = field(default_factory=set)


@dataclass(frozen=True)
class UpdateResult:
    updated: (
        bool  # False: another update of this workspace holds the lease (or it is gone)
    )
    rows_read: int = 0
    item_hours: int = 0
    failure_hours: int = 0
    run_hours: int = 0
    gone: bool = False  # the workspace no longer exists: nothing to do, now or later


def hour_of(value: datetime) -> datetime:
    """The UTC start of the hour `value` falls in."""
    return value.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


# --- the update after a sync ------------------------------------------------------------


def update_workspace(workspace_id: int) -> UpdateResult:
    """Bring the rollups of a workspace up to date with its mirror (after a sync)."""
    if not Workspace.objects.filter(pk=workspace_id).exists():
        return UpdateResult(False, gone=True)
    lease = _take(workspace_id)
    if lease is None:
        return UpdateResult(False)
    try:
        cursor = Cursor.objects.get(pk=workspace_id)
        started = timezone.now()
        with transaction.atomic():
            dirty, marks, read = _collect(cursor)
            _recompute(workspace_id, dirty)
            Cursor.objects.filter(pk=workspace_id).update(
                **marks, checked_at=started, updated_at=timezone.now()
            )
        return UpdateResult(
            True, read, len(dirty.items), len(dirty.failures), len(dirty.runs)
        )
    finally:
        lease.release()


def rebuild_workspace(workspace_id: int) -> UpdateResult:
    """Recompute every rollup of a workspace from its mirror (a full GROUP BY: the command)."""
    lease = _take(workspace_id)
    if lease is None:
        return UpdateResult(False)
    try:
        started = timezone.now()
        with transaction.atomic():
            marks = _current_marks(workspace_id)
            for model in (HourRollup, CodeRollup, DurationRollup):
                model.objects.filter(workspace_id=workspace_id).delete()
            dirty = _all_hours(workspace_id)
            _recompute(workspace_id, dirty)
            Cursor.objects.filter(pk=workspace_id).update(
                **marks, checked_at=started, updated_at=timezone.now()
            )
        refresh_statistics()
        return UpdateResult(
            True, 0, len(dirty.items), len(dirty.failures), len(dirty.runs)
        )
    finally:
        lease.release()


def refresh_statistics() -> None:
    """Refresh the planner statistics of the rollup tables after a rebuild rewrote a
    workspace's rows. Until autovacuum came round, PostgreSQL planned the pages' reads
    for the tables as they were: after a first rebuild, an empty table's plan (the 30-day
    code counts of 200,000 items read 30,000 pages at random, 21 ms, instead of scanning
    400, 5 ms). SQLite never analyzes on its own."""
    analyze(HourRollup, CodeRollup, DurationRollup)


def _take(workspace_id: int) -> Lease | None:
    if not Workspace.objects.filter(pk=workspace_id).exists():
        return None
    Cursor.objects.get_or_create(workspace_id=workspace_id)
    return Lease.take(
        Cursor.objects.filter(pk=workspace_id),
        f"insights-{uuid.uuid4().hex[:12]}",
        LEASE_SECONDS,
        what="the insights update",
    )


def _after(qs: QuerySet[Any], last: int, fields: Sequence[str]) -> Iterator[list[Any]]:
    """Chunks of rows with id > last in id order (a primary-key range per query)."""
    while True:
        rows = list(
            qs.filter(id__gt=last).order_by("id").values_list("id", *fields)[:CHUNK]
        )
        if not rows:
            return
        yield rows
        last = rows[-1][0]
        if len(rows) < CHUNK:
            return


def _collect(cursor: Cursor) -> tuple[Dirty, dict[str, Any], int]:
    """Read the mirror rows written since the cursor; return the hours they touch, the
    cursor's next marks, and how many rows were read."""
    ws = cursor.workspace_id
    dirty, touched, read = Dirty(), set[int](), 0
    marks = {
        "item_id": cursor.item_id,
        "change_id": cursor.change_id,
        "occurrence_id": cursor.occurrence_id,
        "run_id": cursor.run_id,
    }
    items = WorkItem.objects.filter(workspace_id=ws)
    for rows in _after(items, cursor.item_id, ("state", "state_updated_at")):
        read += len(rows)
        dirty.items.update(hour_of(u) for _, s, u in rows if s == "done" and u)
        marks["item_id"] = rows[-1][0]
    changes = WorkItemStateChange.objects.filter(work_item__workspace_id=ws)
    fields = ("work_item_id", "work_item__state", "work_item__state_updated_at")
    for rows in _after(changes, cursor.change_id, fields):
        read += len(rows)
        dirty.items.update(hour_of(u) for _, _, s, u in rows if s == "done" and u)
        touched.update(r[1] for r in rows)
        marks["change_id"] = rows[-1][0]
    occurrences = FailureOccurrence.objects.filter(workspace_id=ws)
    for rows in _after(occurrences, cursor.occurrence_id, ("work_item_id",)):
        read += len(rows)
        touched.update(r[1] for r in rows)
        marks["occurrence_id"] = rows[-1][0]
    # Every failure of an item that changed: a new one, or an earlier one settled now.
    read += _failure_hours_of(touched, dirty.failures)
    read += _run_hours(cursor, dirty.runs, marks)
    return dirty, marks, read


def _failure_hours_of(item_ids: Iterable[int], into: set[datetime]) -> int:
    ids, read = list(item_ids), 0
    for start in range(0, len(ids), 1000):
        rows = FailureOccurrence.objects.filter(
            work_item_id__in=ids[start : start + 1000]
        ).values_list(Coalesce("failed_at", "seen_at"), flat=True)
        for when in rows:
            into.add(hour_of(when))
            read += 1
    return read


def _run_hours(cursor: Cursor, into: set[datetime], marks: dict[str, Any]) -> int:
    runs = ProcessRun.objects.filter(workspace_id=cursor.workspace_id)
    read = 0
    for rows in _after(runs, cursor.run_id, ("created_at", "ended_at")):
        read += len(rows)
        into.update(hour_of(c) for _, c, e in rows if e)
        marks["run_id"] = rows[-1][0]
    if cursor.checked_at is not None:
        ended = runs.filter(
            created_at__gte=cursor.checked_at - RUN_LOOKBACK,
            detail_synced_at__gte=cursor.checked_at - RUN_MARGIN,
            ended_at__isnull=False,
        ).values_list("created_at", flat=True)
        for when in ended:
            into.add(hour_of(when))
            read += 1
    return read


def _current_marks(workspace_id: int) -> dict[str, Any]:
    def top(qs: QuerySet[Any]) -> int:
        return int(qs.aggregate(m=Max("id"))["m"] or 0)

    return {
        "item_id": top(WorkItem.objects.filter(workspace_id=workspace_id)),
        "change_id": top(
            WorkItemStateChange.objects.filter(work_item__workspace_id=workspace_id)
        ),
        "occurrence_id": top(
            FailureOccurrence.objects.filter(workspace_id=workspace_id)
        ),
        "run_id": top(ProcessRun.objects.filter(workspace_id=workspace_id)),
    }


def _all_hours(workspace_id: int) -> Dirty:
    def hours(qs: QuerySet[Any], column: Any) -> set[datetime]:
        return set(
            qs.annotate(h=TruncHour(column, tzinfo=UTC))
            .order_by()
            .values_list("h", flat=True)
            .distinct()
        )

    return Dirty(
        items=hours(
            WorkItem.objects.filter(
                workspace_id=workspace_id, state="done", state_updated_at__isnull=False
            ),
            "state_updated_at",
        ),
        failures=hours(
            FailureOccurrence.objects.filter(workspace_id=workspace_id),
            Coalesce("failed_at", "seen_at"),
        ),
        runs=hours(
            ProcessRun.objects.filter(
                workspace_id=workspace_id, ended_at__isnull=False
            ),
            "created_at",
        ),
    )


# --- recomputing hours ------------------------------------------------------------------


def _ranges(hours: Iterable[datetime]) -> list[tuple[datetime, datetime]]:
    """Contiguous [start, end) spans covering exactly the given hour starts."""
    spans: list[tuple[datetime, datetime]] = []
    for hour in sorted(hours):
        if spans and spans[-1][1] == hour:
            spans[-1] = (spans[-1][0], hour + HOUR)
        else:
            spans.append((hour, hour + HOUR))
    return spans


def _within(column: str, spans: Sequence[tuple[datetime, datetime]]) -> Q:
    q = Q()
    for start, end in spans:
        q |= Q(**{f"{column}__gte": start, f"{column}__lt": end})
    return q


def _spans(
    hours: set[datetime],
) -> Iterator[tuple[list[datetime], list[tuple[datetime, datetime]]]]:
    spans = _ranges(hours)
    for start in range(0, len(spans), RANGES_PER_QUERY):
        group = spans[start : start + RANGES_PER_QUERY]
        low, high = group[0][0], group[-1][1]
        yield [h for h in hours if low <= h < high], group


def _chunked(
    hours: Sequence[datetime], size: int = 500
) -> Iterator[Sequence[datetime]]:
    for start in range(0, len(hours), size):
        yield hours[start : start + size]


def _recompute(workspace_id: int, dirty: Dirty) -> None:
    for hours, spans in _spans(dirty.items):
        _recompute_items(workspace_id, hours, spans)
    for hours, spans in _spans(dirty.failures):
        _recompute_failures(workspace_id, hours, spans)
    for hours, spans in _spans(dirty.runs):
        _recompute_runs(workspace_id, hours, spans)
    for chunk in _chunked(sorted(dirty.items | dirty.failures)):
        HourRollup.objects.filter(
            workspace_id=workspace_id,
            hour__in=chunk,
            done=0,
            failed=0,
            retried_done=0,
            retried_failed=0,
        ).delete()


def _recompute_items(
    workspace_id: int, hours: list[datetime], spans: list[tuple[datetime, datetime]]
) -> None:
    first_failure = (
        FailureOccurrence.objects.filter(work_item=OuterRef("pk"))
        .order_by("number")
        .values(when=Coalesce("failed_at", "seen_at"))[:1]
    )
    rows = (
        WorkItem.objects.filter(workspace_id=workspace_id, state="done")
        .filter(_within("state_updated_at", spans))
        .annotate(first_failed=Subquery(first_failure))
        .order_by()
        .values_list("process_id", "state_updated_at", "first_failed")
    )
    done: Counter[tuple[int, datetime]] = Counter()
    bins: Counter[tuple[int, datetime, int]] = Counter()
    for process_id, updated, first_failed in rows.iterator(chunk_size=2000):
        assert updated is not None  # in the hour's range
        hour = hour_of(updated)
        done[(process_id, hour)] += 1
        if first_failed is not None:
            seconds = (updated - first_failed).total_seconds()
            bins[(process_id, hour, histogram.bin_of(seconds))] += 1
    for chunk in _chunked(hours):
        HourRollup.objects.filter(workspace_id=workspace_id, hour__in=chunk).update(
            done=0
        )
    _upsert_hours(
        workspace_id,
        {key: {"done": n} for key, n in done.items()},
        ["done"],
    )
    _replace_bins(workspace_id, DurationRollup.Kind.RESOLUTION, hours, bins)


def _recompute_failures(
    workspace_id: int, hours: list[datetime], spans: list[tuple[datetime, datetime]]
) -> None:
    rows = (
        FailureOccurrence.objects.filter(workspace_id=workspace_id)
        .filter(
            _within("failed_at", spans)
            | (Q(failed_at__isnull=True) & _within("seen_at", spans))
        )
        .order_by()
        .values_list(
            "work_item__process_id",
            Coalesce("failed_at", "seen_at"),
            "exception_type",
            "exception_code",
            "retried_at",
            "outcome",
        )
    )
    per_hour: dict[tuple[int, datetime], Counter[str]] = {}
    per_code: dict[tuple[int, datetime, str, str], Counter[str]] = {}
    for process_id, when, exc_type, code, retried_at, outcome in rows.iterator(
        chunk_size=2000
    ):
        hour = hour_of(when)
        counts = Counter(failed=1)
        if retried_at is not None and outcome == Outcome.DONE:
            counts["retried_done"] = 1
        elif retried_at is not None and outcome == Outcome.FAILED_AGAIN:
            counts["retried_failed"] = 1
        per_hour.setdefault((process_id, hour), Counter()).update(counts)
        per_code.setdefault((process_id, hour, exc_type, code), Counter()).update(
            counts
        )
    columns = ["failed", "retried_done", "retried_failed"]
    for chunk in _chunked(hours):
        HourRollup.objects.filter(workspace_id=workspace_id, hour__in=chunk).update(
            **dict.fromkeys(columns, 0)
        )
    _upsert_hours(
        workspace_id,
        {key: {c: counts[c] for c in columns} for key, counts in per_hour.items()},
        columns,
    )
    for chunk in _chunked(hours):
        CodeRollup.objects.filter(workspace_id=workspace_id, hour__in=chunk).delete()
    CodeRollup.objects.bulk_create(
        [
            CodeRollup(
                workspace_id=workspace_id,
                process_id=process_id,
                hour=hour,
                exception_type=exc_type,
                exception_code=code,
                **{c: counts[c] for c in columns},
            )
            for (process_id, hour, exc_type, code), counts in per_code.items()
        ],
        batch_size=1000,
    )


def _recompute_runs(
    workspace_id: int, hours: list[datetime], spans: list[tuple[datetime, datetime]]
) -> None:
    rows = (
        ProcessRun.objects.filter(workspace_id=workspace_id, ended_at__isnull=False)
        .filter(_within("created_at", spans))
        .order_by()
        .values_list("process_id", "created_at", "ended_at", "started_at", "duration")
    )
    bins: Counter[tuple[int, datetime, int]] = Counter()
    for process_id, created, ended, started, duration in rows.iterator(chunk_size=2000):
        assert ended is not None  # filtered
        seconds = run_seconds(ended, started, duration)
        if seconds is not None:
            bins[(process_id, hour_of(created), histogram.bin_of(seconds))] += 1
    _replace_bins(workspace_id, DurationRollup.Kind.RUN, hours, bins)


def run_seconds(
    ended: datetime, started: datetime | None, duration: float | None
) -> float | None:
    """A run's duration: Control Room's `duration` when it gave one, else end - start."""
    if duration is not None:
        return float(duration)
    if started is None:
        return None
    return (ended - started).total_seconds()


def _upsert_hours(
    workspace_id: int,
    values: dict[tuple[int, datetime], dict[str, int]],
    columns: list[str],
) -> None:
    HourRollup.objects.bulk_create(
        [
            HourRollup(workspace_id=workspace_id, process_id=p, hour=h, **v)
            for (p, h), v in values.items()
        ],
        update_conflicts=True,
        unique_fields=["workspace", "process", "hour"],
        update_fields=columns,
        batch_size=1000,
    )


def _replace_bins(
    workspace_id: int,
    kind: str,
    hours: list[datetime],
    bins: Counter[tuple[int, datetime, int]],
) -> None:
    for chunk in _chunked(hours):
        DurationRollup.objects.filter(
            workspace_id=workspace_id, kind=kind, hour__in=chunk
        ).delete()
    DurationRollup.objects.bulk_create(
        [
            DurationRollup(
                workspace_id=workspace_id,
                process_id=p,
                hour=h,
                kind=kind,
                bin=b,
                count=n,
            )
            for (p, h, b), n in bins.items()
        ],
        batch_size=1000,
    )
