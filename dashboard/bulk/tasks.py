"""Celery tasks of bulk operations: thin wrappers around `execution` (STYLE.md §3).

Arguments are ids only. `run_chunk` is safe to deliver twice (acks_late): the chunk is claimed
by a conditional UPDATE first, so a duplicate or redelivered message that finds it done, or held
under a live lease, does nothing.
"""

from __future__ import annotations

from celery import shared_task

from dashboard.bulk import conf


@shared_task(
    bind=True,
    acks_late=True,
    ignore_result=True,
    # Rate limits must slow an operation, never fail it; the DB bounds transient retries and
    # the sweeper re-enqueues a chunk if even this many retries ran out.
    max_retries=1000,
    soft_time_limit=conf.chunk_soft_time_limit(),
    time_limit=conf.chunk_time_limit(),
)
def run_chunk(self, chunk_id: int) -> str:  # type: ignore[no-untyped-def]
    """Run BulkChunk `chunk_id`; on 429 / unreachable Control Room, retry with a countdown.

    A chunk that is gone, finished, or held by another live delivery is a no-op.
    """
    from dashboard.bulk.execution import run_chunk as run

    outcome = run(chunk_id)
    if outcome.retry_in is not None:
        raise self.retry(countdown=outcome.retry_in)
    return outcome.status


@shared_task(ignore_result=True)
def sweep_bulk() -> dict[str, int]:
    """Re-enqueue lost chunks, recover dead workers' chunks, finish ended operations (beat)."""
    from dashboard.bulk.execution import sweep_chunks

    return sweep_chunks()


@shared_task(ignore_result=True)
def purge_drafts() -> int:
    """Delete previews past WORKROOM_BULK_DRAFT_TTL_HOURS (beat, hourly; idempotent)."""
    from dashboard.bulk.drafts import purge_expired_drafts

    return purge_expired_drafts()
