"""Deleting a workspace deletes its mirror with a few set-based DELETEs.

Django's cascade would load every mirrored row into memory first (work items have
dependent rows, so they cannot be "fast-deleted"): a 1M-item workspace took ~1 GB. The
mirror's foreign keys to Workspace are therefore DO_NOTHING for Django, and this receiver
deletes the mirror tables child-first just before the workspace row goes.
"""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.models.signals import pre_delete
from django.dispatch import Signal

from dashboard.mirror.models import (
    FailureOccurrence,
    MirrorCheck,
    Process,
    ProcessRun,
    StepRun,
    SyncRun,
    WebhookEvent,
    WebhookRegistration,
    Worker,
    WorkerGroup,
    WorkerStateChange,
    WorkItem,
    WorkItemStateChange,
    WorkspaceSyncState,
)
from dashboard.workspaces.models import Workspace

# Sent once a sync run has finished, succeeded or failed (`sync_run=` the SyncRun, its status
# and counts set). Higher floors (retry policies, alerts) evaluate after a sync through it:
# a receiver must be quick (enqueue a task on commit); one that raises is logged, never fails
# the sync (`send_robust`).
sync_finished = Signal()


def purge_workspace_mirror(workspace_id: int) -> None:
    """Delete every mirror row of a workspace, children first, one statement per table."""
    qn = connection.ops.quote_name
    changes, items = WorkItemStateChange._meta.db_table, WorkItem._meta.db_table
    with connection.cursor() as cursor:
        # Identifiers come from model metadata; the workspace id is a parameter.
        sql = f"DELETE FROM {qn(changes)} WHERE work_item_id IN (SELECT id FROM {qn(items)} WHERE workspace_id = %s)"  # noqa: S608
        cursor.execute(sql, [workspace_id])
        worker_changes, workers = (
            WorkerStateChange._meta.db_table,
            Worker._meta.db_table,
        )
        sql = f"DELETE FROM {qn(worker_changes)} WHERE worker_id IN (SELECT id FROM {qn(workers)} WHERE workspace_id = %s)"  # noqa: S608
        cursor.execute(sql, [workspace_id])
        for model in (
            Worker,
            WorkerGroup,
            FailureOccurrence,
            WorkItem,
            StepRun,
            ProcessRun,
            Process,
            WebhookEvent,
            WebhookRegistration,
            WorkspaceSyncState,
            SyncRun,
            MirrorCheck,
        ):
            sql = f"DELETE FROM {qn(model._meta.db_table)} WHERE workspace_id = %s"  # noqa: S608
            cursor.execute(sql, [workspace_id])


def _on_workspace_delete(sender: Any, instance: Workspace, **kwargs: Any) -> None:
    purge_workspace_mirror(instance.pk)


def connect() -> None:
    pre_delete.connect(
        _on_workspace_delete, sender=Workspace, dispatch_uid="mirror-purge-workspace"
    )
