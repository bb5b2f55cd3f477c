"""Mirror workers and worker groups: the full lists (small) replace what the mirror holds.

A worker whose state differs from the mirror's gets a `WorkerStateChange`; a worker or group no
longer listed is marked gone. Read by a full sync at most every WORKROOM_SYNC_WORKERS_SECONDS
(two requests), so an idle sync keeps its cost; `read_now` reads them at once (the workers page's
refresh, and after Workroom changed a group).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from dashboard.mirror.models import (
    WORKER_ONLINE_STATES,
    Worker,
    WorkerGroup,
    WorkerStateChange,
    WorkspaceSyncState,
)
from dashboard.workspaces.models import Workspace
from robocorp_api import models as api
from robocorp_api.client import ControlRoomClient
from robocorp_api.errors import PermissionDenied


def workers_due(workspace: Workspace, state: WorkspaceSyncState, now: datetime) -> bool:
    """Whether a full sync at `now` should read the workers (never read, or the interval passed)."""
    if workspace.permissions.get("read_workers") is False:
        return False
    last = state.last_workers_read_at
    interval = timedelta(seconds=settings.WORKROOM_SYNC_WORKERS_SECONDS)
    return last is None or last <= now - interval


def read_now(workspace: Workspace, client: ControlRoomClient) -> bool:
    """List workers and groups and write them; False when the key may not read workers.

    Raises:
        ControlRoomError: any failure other than a missing permission.
    """
    try:
        groups = list(client.worker_groups.list(limit=1000))
        workers = list(client.workers.list(limit=1000))
    except PermissionDenied:
        return False
    now = timezone.now()
    with transaction.atomic():
        write_groups(workspace, groups, now)
        write_workers(workspace, workers, now)
        WorkspaceSyncState.objects.filter(workspace=workspace).update(
            last_workers_read_at=now
        )
    return True


def write_groups(
    workspace: Workspace, listed: Sequence[api.WorkerGroup], now: datetime
) -> None:
    existing = {
        g.external_id: g for g in WorkerGroup.objects.filter(workspace=workspace)
    }
    for group in listed:
        row = existing.get(group.id)
        if row is None:
            WorkerGroup.objects.create(
                workspace=workspace,
                external_id=group.id,
                name=group.name,
                first_seen_at=now,
                last_seen_at=now,
            )
            continue
        row.name, row.last_seen_at, row.gone_at = group.name, now, None
        row.save(update_fields=["name", "last_seen_at", "gone_at"])
    listed_ids = {g.id for g in listed}
    WorkerGroup.objects.filter(workspace=workspace, gone_at__isnull=True).exclude(
        external_id__in=listed_ids
    ).update(gone_at=now)


def write_workers(
    workspace: Workspace, listed: Sequence[api.Worker], now: datetime
) -> None:
    existing = {w.external_id: w for w in Worker.objects.filter(workspace=workspace)}
    for worker in listed:
        online = worker.state in WORKER_ONLINE_STATES
        row = existing.get(worker.id)
        if row is None:
            Worker.objects.create(
                workspace=workspace,
                external_id=worker.id,
                name=worker.name,
                state=worker.state,
                state_changed_at=now,
                last_online_at=now if online else None,
                first_seen_at=now,
                last_seen_at=now,
            )
            continue
        if row.state != worker.state or row.gone_at is not None:
            WorkerStateChange.objects.create(
                worker=row,
                old_state="gone" if row.gone_at is not None else row.state,
                new_state=worker.state,
                observed_at=now,
            )
            row.state, row.state_changed_at = worker.state, now
        row.name, row.last_seen_at, row.gone_at = worker.name, now, None
        if online:
            row.last_online_at = now
        row.save()
    gone = Worker.objects.filter(workspace=workspace, gone_at__isnull=True).exclude(
        external_id__in={w.id for w in listed}
    )
    for row in gone:
        WorkerStateChange.objects.create(
            worker=row, old_state=row.state, new_state="gone", observed_at=now
        )
    gone.update(gone_at=now)


def record_groups(workspace: Workspace, membership: api.WorkerGroupMembership) -> None:
    """Remember a worker's groups as an add/remove answer listed them (the API has no read)."""
    Worker.objects.filter(workspace=workspace, external_id=membership.worker.id).update(
        group_external_ids=[g.id for g in membership.worker_groups]
    )
    now = timezone.now()
    for group in membership.worker_groups:
        WorkerGroup.objects.update_or_create(
            workspace=workspace,
            external_id=group.id,
            defaults={"name": group.name, "last_seen_at": now, "gone_at": None},
        )
