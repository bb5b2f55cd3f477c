"""Reads of the mirror for the workers pages (no API calls here)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.auth.models import AnonymousUser
from django.db.models import QuerySet

from dashboard.accounts.models import User
from dashboard.accounts.permissions import teams_for
from dashboard.mirror.models import Worker, WorkerGroup, WorkerStateChange
from dashboard.workspaces.models import Workspace


def visible_workspaces(user: User | AnonymousUser) -> QuerySet[Workspace]:
    """The workspaces of every team the user belongs to."""
    return (
        Workspace.objects.filter(team__in=teams_for(user))
        .select_related("team")
        .order_by("team__name", "name", "id")
    )


@dataclass(frozen=True)
class WorkerRow:
    worker: Worker
    groups: list[str]  # names, as far as Workroom knows them

    @property
    def offline(self) -> bool:
        return not self.worker.is_online


def worker_rows(workspaces: Iterable[Workspace]) -> list[WorkerRow]:
    """Every mirrored worker of the workspaces (gone ones last), offline ones first."""
    ids = [w.pk for w in workspaces]
    groups = {
        (g.workspace_id, g.external_id): g.name
        for g in WorkerGroup.objects.filter(workspace_id__in=ids, gone_at__isnull=True)
    }
    workers = Worker.objects.filter(workspace_id__in=ids).select_related(
        "workspace", "workspace__team"
    )
    rows = [
        WorkerRow(
            worker,
            [
                groups[(worker.workspace_id, g)]
                for g in worker.group_external_ids
                if (worker.workspace_id, g) in groups
            ],
        )
        for worker in workers
    ]
    rows.sort(
        key=lambda r: (
            r.worker.gone_at is not None,
            not r.offline,
            r.worker.workspace.name,
            r.worker.name,
        )
    )
    return rows


def recent_state_changes(
    workspaces: Iterable[Workspace], limit: int = 20
) -> list[WorkerStateChange]:
    """The latest worker state changes the syncs observed in these workspaces."""
    return list(
        WorkerStateChange.objects.filter(
            worker__workspace_id__in=[w.pk for w in workspaces]
        ).select_related("worker", "worker__workspace")[:limit]
    )


def workers_of(workspace: Workspace) -> list[Worker]:
    """The workspace's mirrored workers still listed (for the group membership forms)."""
    return list(Worker.objects.filter(workspace=workspace, gone_at__isnull=True))
