"""Celery task of insights: a thin wrapper around `rollups` (ids in, idempotent)."""

from __future__ import annotations

from celery import shared_task

# While another update of the workspace holds the lease, try again shortly: it may have
# read the mirror before this sync's rows were committed.
BUSY_RETRY_SECONDS = 15


@shared_task(
    bind=True, acks_late=True, ignore_result=True, max_retries=8, time_limit=900
)
def update_workspace(self, workspace_id: int) -> int:  # type: ignore[no-untyped-def]
    """Update the rollups of one workspace from the mirror rows written since the last update."""
    from dashboard.insights.rollups import update_workspace as update

    result = update(workspace_id)
    if not result.updated and not result.gone:
        raise self.retry(countdown=BUSY_RETRY_SECONDS)
    return result.rows_read
