"""What needs attention across a person's workspaces: the home page's one read.

Failed items now and those that failed in the last 24 hours (per hour, for a sparkline), the
largest failure groups (new ones marked), stuck and unresolved runs, items pending for long,
what retry policies did in the last 24 hours, and whether each workspace's mirror is fresh. Every number comes with the explorer or triage
query that shows the items behind it. The query count does not grow with the number of
workspaces, teams or items.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import Count, Q, QuerySet
from django.db.models.functions import TruncHour
from django.utils import timezone

from dashboard.mirror.models import ProcessRun, WorkItem, WorkspaceSyncState
from dashboard.policies.selectors import PolicyDay, recent_work
from dashboard.workitems.selectors import FailureGroup, Scope, failure_groups
from dashboard.workspaces.models import Workspace

TOP_GROUPS = 5
RUNS_SHOWN = 8
DAY = timedelta(hours=24)


@dataclass(frozen=True)
class Sparkline:
    """Failures per hour over the last 24 hours, as SVG polyline points (0,0 top-left)."""

    counts: list[int]
    width: int = 120
    height: int = 28

    @property
    def points(self) -> str:
        top = max(self.counts) or 1
        step = self.width / max(len(self.counts) - 1, 1)
        return " ".join(
            f"{i * step:.1f},{self.height - 2 - (n / top) * (self.height - 4):.1f}"
            for i, n in enumerate(self.counts)
        )

    @property
    def description(self) -> str:
        return "Failures per hour, oldest first: " + ", ".join(map(str, self.counts))


@dataclass(frozen=True)
class Health:
    """How fresh one workspace's mirror is, and why not."""

    workspace: Workspace
    status: str  # fresh | late | failing | never | disabled
    why: str
    as_of: datetime | None


@dataclass
class Attention:
    failed_now: int
    failed_24h: int
    sparkline: Sparkline
    groups: list[FailureGroup]
    new_groups: set[int]  # indexes into `groups` first seen in the last 24 hours
    stuck_runs: list[ProcessRun]
    unresolved_runs: list[ProcessRun]
    pending_long: int
    health: list[Health]
    policies: list[PolicyDay] = field(default_factory=list)
    mine_failed: int = 0  # failed items assigned to the reader
    stuck_after: timedelta = field(default=timedelta(0))
    pending_after: timedelta = field(default=timedelta(0))

    @property
    def has_workspaces(self) -> bool:
        return bool(self.health)

    @property
    def unhealthy(self) -> list[Health]:
        return [h for h in self.health if h.status not in ("fresh", "disabled")]

    @property
    def all_clear(self) -> bool:
        return not (
            self.failed_now or self.stuck_runs or self.pending_long or self.unhealthy
        )

    def group_is_new(self, index: int) -> bool:
        return index in self.new_groups


def explorer_query(**params: object) -> str:
    return urlencode({k: v for k, v in params.items() if v not in ("", None)})


def attention_for(scope: Scope, now: datetime | None = None) -> Attention:
    """Read what needs attention in the workspaces of `scope`."""
    now = now or timezone.now()
    ids = list(scope.workspaces)
    stuck_after = timedelta(minutes=settings.WORKROOM_STUCK_RUN_MINUTES)
    pending_after = timedelta(minutes=settings.WORKROOM_PENDING_STALE_MINUTES)
    live = WorkItem.objects.filter(workspace_id__in=ids, gone_at__isnull=True)
    failed = live.filter(state="failed")
    hourly = _failures_per_hour(failed, now)
    triage = failure_groups(scope)
    groups = triage.groups[:TOP_GROUPS]
    return Attention(
        failed_now=triage.total_failed,
        failed_24h=sum(hourly),
        sparkline=Sparkline(hourly),
        groups=groups,
        new_groups={
            i for i, g in enumerate(groups) if g.first_seen and now - g.first_seen < DAY
        },
        stuck_runs=_stuck_runs(ids, now - stuck_after),
        unresolved_runs=_unresolved_runs(ids, now - DAY),
        pending_long=live.filter(
            state="pending",
            state_updated_at__lt=now - pending_after,
        ).count(),
        health=[_health(w, now) for w in _with_sync_state(ids)],
        policies=recent_work(sorted(set(scope.roles)), now - DAY),
        mine_failed=failed.filter(handling__owner_id=scope.user_id).count()
        if scope.user_id
        else 0,
        stuck_after=stuck_after,
        pending_after=pending_after,
    )


def _failures_per_hour(failed: QuerySet[WorkItem], now: datetime) -> list[int]:
    """Items still failed whose failure happened in each of the last 24 hours (oldest first)."""
    tz = timezone.get_current_timezone()
    last = timezone.localtime(now, tz).replace(minute=0, second=0, microsecond=0)
    first = last - timedelta(hours=23)
    rows = (
        failed.filter(state_updated_at__gte=first)
        .annotate(hour=TruncHour("state_updated_at", tzinfo=tz))
        .values("hour")
        .annotate(n=Count("id"))
        .order_by()
    )
    by_hour = {
        timezone.localtime(r["hour"], tz).replace(tzinfo=None): r["n"] for r in rows
    }
    hours = [(first + timedelta(hours=i)).replace(tzinfo=None) for i in range(24)]
    return [by_hour.get(h, 0) for h in hours]


def _stuck_runs(ids: list[int], before: datetime) -> list[ProcessRun]:
    running_long = Q(state="in_progress", started_at__lt=before)
    queued_long = Q(state="new", created_at__lt=before)
    return list(
        ProcessRun.objects.filter(workspace_id__in=ids, gone_at__isnull=True)
        .filter(running_long | queued_long)
        .select_related("process", "workspace")
        .order_by("created_at")[:RUNS_SHOWN]
    )


def _unresolved_runs(ids: list[int], since: datetime) -> list[ProcessRun]:
    return list(
        ProcessRun.objects.filter(
            workspace_id__in=ids,
            gone_at__isnull=True,
            state="unresolved",
            created_at__gte=since,
        )
        .select_related("process", "workspace")
        .order_by("-created_at")[:RUNS_SHOWN]
    )


def _with_sync_state(ids: list[int]) -> list[Workspace]:
    return list(
        Workspace.objects.filter(pk__in=ids)
        .select_related("team", "sync_state", "sync_state__last_sync_run")
        .order_by("team__name", "name", "id")
    )


def _health(workspace: Workspace, now: datetime) -> Health:
    state: WorkspaceSyncState | None = getattr(workspace, "sync_state", None)
    as_of = state.last_success_at if state else None
    if not workspace.enabled:
        return Health(workspace, "disabled", "Syncing is switched off.", as_of)
    if workspace.needs_attention:
        why = workspace.last_error or "Control Room refused the workspace's key."
        return Health(workspace, "failing", why, as_of)
    if state is not None and state.consecutive_failures:
        last = state.last_sync_run
        error = last.error if last is not None and last.error else "the sync failed"
        why = f"The last {state.consecutive_failures} sync(s) failed: {error}"
        return Health(workspace, "failing", why, as_of)
    if as_of is None:
        return Health(workspace, "never", "Not synced yet.", None)
    interval = workspace.sync_interval_seconds
    late_after = timedelta(seconds=max(3 * interval, interval + 120))
    if now - as_of > late_after:
        return Health(
            workspace,
            "late",
            f"No successful sync for longer than {int(late_after.total_seconds() // 60)} min.",
            as_of,
        )
    return Health(workspace, "fresh", "", as_of)
