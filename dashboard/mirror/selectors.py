"""Reads the mirror's pages render."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count

from dashboard.mirror.models import (
    Process,
    ProcessRun,
    SyncRun,
    WebhookRegistration,
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
