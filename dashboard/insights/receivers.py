"""After each finished sync (mirror's `sync_finished`), update the workspace's rollups."""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from django.db import transaction

from dashboard.mirror.models import SyncRun
from dashboard.mirror.signals import sync_finished

logger = logging.getLogger(__name__)


def _on_sync_finished(sender: Any, sync_run: SyncRun, **kwargs: Any) -> None:
    # A failed sync may still have written pages of rows: both update.
    transaction.on_commit(partial(enqueue, sync_run.workspace_id), robust=True)


def enqueue(workspace_id: int) -> None:
    """Publish one rollup update (a broker outage is logged: the next sync enqueues again,
    and the update reads everything since its cursor)."""
    from dashboard.insights.tasks import update_workspace

    try:
        update_workspace.apply_async(
            args=(workspace_id,), retry_policy={"max_retries": 1, "interval_start": 0}
        )
    except Exception as err:  # kombu / redis errors: never fail the sync's commit
        logger.warning(
            "insights: could not enqueue the rollup update of workspace %s (%s)",
            workspace_id,
            type(err).__name__,
        )


def connect() -> None:
    sync_finished.connect(
        _on_sync_finished, sender=SyncRun, dispatch_uid="insights-update-after-sync"
    )
