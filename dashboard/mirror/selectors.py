"""Reads the mirror's pages render."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, QuerySet

from dashboard.mirror.models import (
    Process,
    ProcessRun,
    SyncRun,
    WebhookRegistration,
    Worker,
    WorkspaceSyncState,
)
from dashboard.workspaces.models import Workspace
from robocorp_api.models import WORK_ITEM_STATES


@dataclass(frozen=True)
class ProcessRow:
    process: Process
    counts: list[int]
    other: int
    total: int
    runs: int


@dataclass
class Overview:
    workspace: Workspace
    state: WorkspaceSyncState | None
    active: SyncRun | None
    last_finished: SyncRun | None
    recent: list[SyncRun]
    processes: list[ProcessRow]
    totals: list[int]
    webhooks: list[WebhookRegistration]
    states: tuple[str, ...] = field(default=WORK_ITEM_STATES)

    @property
    def data_as_of(self) -> datetime | None:
        return self.state.last_success_at if self.state else None

    @property
    def next_sync_at(self) -> datetime | None:
        return self.state.next_sync_at if self.state else None

    @property
    def is_syncing(self) -> bool:
        return self.active is not None


def sync_status(
    workspace: Workspace,
) -> tuple[SyncRun | None, SyncRun | None, WorkspaceSyncState | None]:
    """Return (the active sync, the last finished sync, the sync state) of a workspace."""
    runs = SyncRun.objects.filter(workspace=workspace, target_run_external_id="")
    active = (
        runs.filter(status__in=SyncRun.ACTIVE_STATUSES)
        .order_by("-created_at", "-id")
        .first()
    )
    last = runs.exclude(status__in=SyncRun.ACTIVE_STATUSES).exclude(
        status=SyncRun.Status.SKIPPED
    )
    state = WorkspaceSyncState.objects.filter(pk=workspace.pk).first()
    return active, last.order_by("-created_at", "-id").first(), state


def workspace_overview(workspace: Workspace) -> Overview:
    active, last, state = sync_status(workspace)
    recent = list(
        SyncRun.objects.filter(workspace=workspace).order_by("-created_at", "-id")[:10]
    )
    run_counts = dict(
        ProcessRun.objects.filter(workspace=workspace, gone_at__isnull=True)
        .values_list("process_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    rows = []
    totals = [0] * len(WORK_ITEM_STATES)
    for process in Process.objects.filter(
        workspace=workspace, gone_at__isnull=True
    ).order_by("name", "id"):
        counts = [int(process.item_counts.get(s, 0)) for s in WORK_ITEM_STATES]
        total = sum(int(n) for n in process.item_counts.values())
        totals = [a + b for a, b in zip(totals, counts, strict=True)]
        rows.append(
            ProcessRow(
                process,
                counts,
                total - sum(counts),
                total,
                run_counts.get(process.pk, 0),
            )
        )
    webhooks = list(
        WebhookRegistration.objects.filter(workspace=workspace).order_by(
            "created_at", "id"
        )
    )
    return Overview(workspace, state, active, last, recent, rows, totals, webhooks)


# --- workers: "items wait but no worker is online" ---------------------------------------------


@dataclass(frozen=True)
class NoWorkerWarning:
    """Items of a workspace (or one process) are pending while none of its workers is online.

    The v1 API tells neither which worker group a process runs on nor a worker's groups, so
    "online" means any worker of the workspace; the warning is only given for a workspace whose
    workers the mirror has read (a key without Workers.read_workers gives none).
    """

    workspace: Workspace
    pending: int
    workers: int
    offline_names: tuple[str, ...]
    as_of: datetime | None


def no_worker_warnings(
    workspaces: Iterable[Workspace] | QuerySet[Workspace],
    *,
    process: Process | None = None,
) -> list[NoWorkerWarning]:
    """One warning per workspace whose pending items (of `process` if given) have no online worker.

    One query when no workspace has only offline workers (a queryset of workspaces is used as a
    subquery), three otherwise.
    """
    workers = Worker.objects.filter(workspace__in=workspaces, gone_at__isnull=True)
    if process is not None:
        workers = workers.filter(workspace_id=process.workspace_id)
    by_workspace: dict[int, list[Worker]] = {}
    for worker in workers.select_related("workspace").order_by("name", "id"):
        by_workspace.setdefault(worker.workspace_id, []).append(worker)
    idle = {
        pk: rows
        for pk, rows in by_workspace.items()
        if not any(w.is_online for w in rows)
    }
    if not idle:
        return []
    processes = (
        [process]
        if process is not None
        else Process.objects.filter(workspace_id__in=idle, gone_at__isnull=True)
    )
    pending: dict[int, int] = {}
    for row in processes:
        count = int((row.item_counts or {}).get("pending", 0))
        pending[row.workspace_id] = pending.get(row.workspace_id, 0) + count
    read_at = dict(
        WorkspaceSyncState.objects.filter(workspace_id__in=idle).values_list(
            "workspace_id", "last_workers_read_at"
        )
    )
    return [
        NoWorkerWarning(
            workspace=rows[0].workspace,
            pending=pending[pk],
            workers=len(rows),
            offline_names=tuple(w.name for w in rows),
            as_of=read_at.get(pk),
        )
        for pk, rows in idle.items()
        if pending.get(pk, 0) > 0
    ]
