"""Reads of the mirror for the process and run pages (no API calls here)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.contrib.auth.models import AnonymousUser
from django.db.models import Count, Q, QuerySet
from django.db.models.functions import TruncDay, TruncHour
from django.utils import timezone

from dashboard.accounts.models import User
from dashboard.accounts.permissions import teams_for
from dashboard.mirror.models import Process, ProcessRun, StepRun, WorkItem
from dashboard.workspaces.models import Workspace
from robocorp_api.models import PROCESS_RUN_STATES, WORK_ITEM_STATES

WINDOWS: dict[str, tuple[timedelta, str]] = {
    "24h": (timedelta(hours=24), "hour"),
    "7d": (timedelta(days=7), "day"),
    "30d": (timedelta(days=30), "day"),
}


def visible_workspaces(user: User | AnonymousUser) -> QuerySet[Workspace]:
    """Return the workspaces of every team the user belongs to."""
    return (
        Workspace.objects.filter(team__in=teams_for(user))
        .select_related("team")
        .order_by("team__name", "name", "id")
    )


# --- the processes page ------------------------------------------------------------------


@dataclass
class ProcessStats:
    process: Process
    runs_24h: int = 0
    runs_7d: int = 0
    ended_7d: int = 0
    unresolved_7d: int = 0
    active: int = 0
    item_counts: list[int] = field(default_factory=list)
    can_start: bool = False  # the user may start runs (operator or admin)
    start_blocked: str = ""  # why the workspace's key cannot start runs

    @property
    def failure_rate(self) -> float | None:
        """Share of the runs that ended in the last 7 days that ended unresolved."""
        if not self.ended_7d:
            return None
        return self.unresolved_7d / self.ended_7d


@dataclass
class Totals:
    runs_24h: int = 0
    runs_7d: int = 0
    ended_7d: int = 0
    unresolved_7d: int = 0
    active: int = 0
    item_counts: list[int] = field(default_factory=lambda: [0] * len(WORK_ITEM_STATES))

    @property
    def failure_rate(self) -> float | None:
        return self.unresolved_7d / self.ended_7d if self.ended_7d else None


def process_stats(
    workspaces: Iterable[Workspace], now: datetime | None = None
) -> tuple[list[ProcessStats], Totals]:
    """Return per-process run statistics (24 h / 7 d) and item counts, plus totals."""
    now = now or timezone.now()
    day, week = now - timedelta(hours=24), now - timedelta(days=7)
    ws_ids = [w.pk for w in workspaces]
    processes = list(
        Process.objects.filter(workspace_id__in=ws_ids, gone_at__isnull=True)
        .select_related("workspace")
        .order_by("workspace__name", "name", "id")
    )
    runs = (
        ProcessRun.objects.filter(workspace_id__in=ws_ids, gone_at__isnull=True)
        .values("process_id")
        .annotate(
            runs_24h=Count("id", filter=Q(created_at__gte=day)),
            runs_7d=Count("id", filter=Q(created_at__gte=week)),
            ended_7d=Count(
                "id",
                filter=Q(ended_at__gte=week, state__in=("completed", "unresolved")),
            ),
            unresolved_7d=Count("id", filter=Q(ended_at__gte=week, state="unresolved")),
            active=Count("id", filter=Q(state__in=("new", "in_progress", "stopping"))),
        )
        .order_by()
    )
    by_process = {row["process_id"]: row for row in runs}
    rows, totals = [], Totals()
    for process in processes:
        row = by_process.get(process.pk, {})
        stats = ProcessStats(
            process,
            runs_24h=row.get("runs_24h", 0),
            runs_7d=row.get("runs_7d", 0),
            ended_7d=row.get("ended_7d", 0),
            unresolved_7d=row.get("unresolved_7d", 0),
            active=row.get("active", 0),
            item_counts=[int(process.item_counts.get(s, 0)) for s in WORK_ITEM_STATES],
        )
        rows.append(stats)
        for name in ("runs_24h", "runs_7d", "ended_7d", "unresolved_7d", "active"):
            setattr(totals, name, getattr(totals, name) + getattr(stats, name))
        totals.item_counts = [
            a + b for a, b in zip(totals.item_counts, stats.item_counts, strict=True)
        ]
    return rows, totals


@dataclass(frozen=True)
class Bucket:
    start: datetime
    done: int
    failed: int


def throughput(
    workspaces: Iterable[Workspace],
    window: str,
    *,
    process: Process | None = None,
    now: datetime | None = None,
) -> tuple[list[Bucket], str]:
    """Return work items that ended done / failed per hour or day of the window.

    An item counts in the bucket of its last state change; a failed item retried to done
    later moves to the bucket of its success.
    """
    span, unit = WINDOWS.get(window, WINDOWS["7d"])
    now = now or timezone.now()
    tz = timezone.get_current_timezone()
    local_now = timezone.localtime(now, tz)
    if unit == "hour":
        last = local_now.replace(minute=0, second=0, microsecond=0)
        step = timedelta(hours=1)
        count = int(span / step)
    else:
        last = local_now.replace(hour=0, minute=0, second=0, microsecond=0)
        step = timedelta(days=1)
        count = span.days
    first = last - step * (count - 1)
    trunc = TruncHour if unit == "hour" else TruncDay
    items = WorkItem.objects.filter(
        workspace_id__in=[w.pk for w in workspaces],
        gone_at__isnull=True,
        state__in=("done", "failed"),
        state_updated_at__gte=first,
    )
    if process is not None:
        items = items.filter(process=process)
    rows = (
        items.annotate(bucket=trunc("state_updated_at", tzinfo=tz))
        .values("bucket", "state")
        .annotate(n=Count("id"))
        .order_by()
    )
    found: dict[tuple[datetime, str], int] = {}
    for row in rows:
        key = timezone.localtime(row["bucket"], tz).replace(tzinfo=None)
        found[(key, row["state"])] = row["n"]
    buckets = []
    for i in range(count):
        start = first + step * i
        naive = start.replace(tzinfo=None)
        buckets.append(
            Bucket(
                start, found.get((naive, "done"), 0), found.get((naive, "failed"), 0)
            )
        )
    return buckets, unit


# --- the runs list ------------------------------------------------------------------------


@dataclass
class RunFilter:
    workspaces: list[Workspace]
    workspace: Workspace | None = None
    process: Process | None = None
    state: str = ""
    started_by: str = ""
    since: datetime | None = None
    until: datetime | None = None


def runs_matching(flt: RunFilter) -> QuerySet[ProcessRun]:
    """Return the mirrored runs that match the filter, newest first."""
    runs = ProcessRun.objects.filter(
        workspace__in=[flt.workspace] if flt.workspace else flt.workspaces,
        gone_at__isnull=True,
    )
    if flt.process is not None:
        runs = runs.filter(process=flt.process)
    if flt.state:
        runs = runs.filter(state=flt.state)
    if flt.started_by:
        runs = runs.filter(started_by_type=flt.started_by)
    if flt.since is not None:
        runs = runs.filter(created_at__gte=flt.since)
    if flt.until is not None:
        runs = runs.filter(created_at__lt=flt.until)
    return runs.select_related("process", "workspace").order_by("-created_at", "-id")


def item_counts_by_run(runs: Iterable[ProcessRun]) -> dict[int, dict[str, int]]:
    """Return {run pk: {state: count}} of the live work items of the given runs."""
    pks = [r.pk for r in runs]
    counts: dict[int, dict[str, int]] = {pk: {} for pk in pks}
    rows = (
        WorkItem.objects.filter(process_run_id__in=pks, gone_at__isnull=True)
        .values_list("process_run_id", "state")
        .annotate(n=Count("id"))
        .order_by()
    )
    for run_pk, state, n in rows:
        counts[run_pk][state] = n
    return counts


# --- one run ------------------------------------------------------------------------------


@dataclass
class StepRow:
    step_run: StepRun
    failed_items: int
    items: int


def step_rows(run: ProcessRun) -> list[StepRow]:
    """Return the run's step runs, each with how many of its work items there are / failed."""
    counts = {
        row["step_run_external_id"]: row
        for row in WorkItem.objects.filter(process_run=run, gone_at__isnull=True)
        .values("step_run_external_id")
        .annotate(n=Count("id"), failed=Count("id", filter=Q(state="failed")))
        .order_by()
    }
    steps = StepRun.objects.filter(process_run=run, gone_at__isnull=True).order_by(
        "started_at", "state_updated_at", "id"
    )
    return [
        StepRow(
            s,
            counts.get(s.external_id, {}).get("failed", 0),
            counts.get(s.external_id, {}).get("n", 0),
        )
        for s in steps
    ]


def ordered_counts(counts: dict[str, int]) -> list[tuple[str, int]]:
    """Return (state, count) in the canonical state order, unknown states last."""
    known = [(s, counts.get(s, 0)) for s in WORK_ITEM_STATES]
    extra = sorted((s, n) for s, n in counts.items() if s not in WORK_ITEM_STATES)
    return known + extra


def new_input_items(process: Process, limit: int = 200) -> list[WorkItem]:
    """Return input items waiting in the process's queue (state new, no run yet)."""
    return list(
        WorkItem.objects.filter(
            process=process,
            state="new",
            process_run__isnull=True,
            process_run_external_id="",
            gone_at__isnull=True,
        ).order_by("-created_at", "-id")[:limit]
    )


RUN_STATES = PROCESS_RUN_STATES
