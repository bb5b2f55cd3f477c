"""Celery tasks of the mirror: thin wrappers around services, ids only (STYLE.md §3).

`sync_workspace` is safe to deliver twice (acks_late): the SyncRun is claimed by a
conditional UPDATE under the workspace's lease, and the sync itself is an idempotent upsert.
"""

from __future__ import annotations

from celery import shared_task

from dashboard.mirror import conf


@shared_task(
    bind=True,
    acks_late=True,
    ignore_result=True,
    max_retries=conf.task_max_retries(),
    # A workspace whose Control Room hangs holds one worker this long at most; the lease
    # outlives the hard limit, so a killed sync's workspace is free again after it.
    soft_time_limit=conf.soft_time_limit(),
    time_limit=conf.time_limit(),
)
def sync_workspace(self, sync_run_id: int) -> None:  # type: ignore[no-untyped-def]
    """Run SyncRun `sync_run_id`; retries (bounded, with backoff) on transient API errors.

    A SyncRun that no longer exists or is already finished is a no-op.
    """
    from dashboard.mirror.services.syncruns import sync_run_execute

    retries = self.request.retries
    outcome = sync_run_execute(
        sync_run_id=sync_run_id, can_retry=retries < self.max_retries, retries=retries
    )
    if outcome.retry_in is not None:
        raise self.retry(countdown=outcome.retry_in)


@shared_task(ignore_result=True)
def dispatch_due_syncs() -> int:
    """Queue a sync of every workspace whose interval has passed (beat, every 5 s)."""
    from dashboard.mirror.services.syncruns import dispatch_due_syncs as dispatch

    return dispatch()


@shared_task(ignore_result=True)
def sweep_syncs() -> dict[str, int]:
    """Re-enqueue syncs whose message was lost or whose worker died, and delete old sync
    history (beat, every minute)."""
    from dashboard.mirror.services.syncruns import prune_history, sweep

    swept = sweep()
    pruned = prune_history()
    return {**swept, **{f"pruned_{name}": n for name, n in pruned.items()}}


@shared_task(acks_late=True, ignore_result=True)
def check_mirror(check_id: int) -> None:
    """Compare the mirror with Control Room for the mirror page (a no-op if already run)."""
    from dashboard.mirror.services.check import check_execute

    check_execute(check_id)
