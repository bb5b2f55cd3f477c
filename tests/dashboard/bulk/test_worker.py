"""Bulk operations through real Celery worker subprocesses and real Redis, against the emulator:
SIGKILLed workers, a restarted Redis (a private redis-server of this test, never the shared
one), Redis down at confirm, duplicate deliveries, and 429 storms.

"Exactly once" is proven by the emulator's store: a spy records every id the batch endpoint
received, and each must appear exactly once.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dashboard.bulk import drafts, execution
from dashboard.bulk.models import BulkChunk, BulkOperation
from dashboard.celery import app as celery_app
from tests.dashboard.bulk.helpers import seed_failed
from tests.dashboard.support.redis_server import PrivateRedis
from tests.dashboard.support.sync import full_sync
from tests.dashboard.support.workers import wait_until

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.worker,
    pytest.mark.emulator,
    pytest.mark.slow,
]


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    old = celery_app.conf.broker_url
    celery_app.conf.broker_url = server.url  # type: ignore[misc]
    _reset_pools()
    yield server
    server.stop()
    celery_app.conf.broker_url = old  # type: ignore[misc]
    _reset_pools()


def _reset_pools() -> None:
    # Point this test process's publisher at another broker: drop the cached pools (kombu keeps
    # a global registry of producer pools keyed by connection).
    from kombu import pools

    pools.reset()
    celery_app._pool = None  # type: ignore[attr-defined]
    celery_app.amqp._producer_pool = None  # type: ignore[attr-defined]


def confirmed(ws: Any, user: Any, action: str = "retry") -> BulkOperation:
    op = drafts.create_draft(user, action=action, filter_query="state=failed")
    return drafts.confirm(op, user, reason="worker test")


def state_of(op: BulkOperation) -> str:
    op.refresh_from_db()
    return op.state


def assert_exactly_once(spy: Any, n: int) -> None:
    per_row = spy.per_row()
    assert len(per_row) == n
    assert set(per_row.values()) == {1}, per_row.most_common(3)


def test_a_worker_runs_all_chunks(ws, emu, bob, spy, start_worker):
    seed_failed(emu, 45)
    full_sync(ws)
    worker = start_worker()
    op = confirmed(ws, bob)
    wait_until(lambda: state_of(op) in BulkOperation.TERMINAL_STATES, timeout=30)
    assert op.state == BulkOperation.State.SUCCEEDED, worker.output()
    assert op.done_count == 45 and op.chunks.count() == 5
    assert_exactly_once(spy, 45)


def test_a_sigkilled_worker_resumes_with_nothing_lost_or_doubled(
    ws, emu, bob, spy, start_worker
):
    seed_failed(emu, 60)
    full_sync(ws)
    # Each batch call takes 0.6 s, so the kill lands while one is on the wire.
    emu.faults.add(kind="latency", latency_ms=600, path=r"/work-items/batch$")
    worker = start_worker()
    op = confirmed(ws, bob)
    wait_until(lambda: len(spy.calls) >= 2, timeout=30)
    time.sleep(0.3)
    worker.kill()
    done_before = BulkChunk.objects.filter(operation=op, state="done").count()
    assert done_before < 6
    # The dead worker's chunk is running under a lease; after it expires the sweeper requeues.
    time.sleep(3.5)
    start_worker()
    wait_until(
        lambda: (
            execution.sweep_chunks() and state_of(op) in BulkOperation.TERMINAL_STATES
        ),
        timeout=60,
        interval=0.5,
    )
    assert op.state == BulkOperation.State.SUCCEEDED
    assert op.done_count == 60
    assert_exactly_once(spy, 60)
    assert BulkChunk.objects.filter(operation=op, attempts__gte=2).exists()


def test_duplicate_deliveries_are_no_ops(ws, emu, bob, spy, start_worker, tuned):
    from dashboard.bulk.tasks import run_chunk

    seed_failed(emu, 30)
    full_sync(ws)
    emu.faults.add(kind="latency", latency_ms=300, path=r"/work-items/batch$")
    start_worker()
    start_worker()
    op = confirmed(ws, bob)
    for chunk_id in op.chunks.values_list("pk", flat=True):
        for _ in range(2):  # the same message twice more, to two competing workers
            run_chunk.apply_async(args=(chunk_id,), queue=tuned["WORKROOM_BULK_QUEUE"])
    wait_until(lambda: state_of(op) in BulkOperation.TERMINAL_STATES, timeout=40)
    time.sleep(1.0)  # let the extra deliveries run out
    assert op.state == BulkOperation.State.SUCCEEDED
    assert_exactly_once(spy, 30)
    assert sum(op.chunks.values_list("batch_calls", flat=True)) == 3


def test_a_429_storm_slows_the_operation_but_never_fails_it(
    ws, emu, bob, spy, start_worker
):
    seed_failed(emu, 30)
    full_sync(ws)
    # Long Retry-After: the client does not sleep; the task retries with a capped countdown.
    emu.faults.add(
        kind="rate_limit", path=r"/work-items/batch$", retry_after="120", times=5
    )
    start_worker()
    op = confirmed(ws, bob)
    wait_until(lambda: state_of(op) in BulkOperation.TERMINAL_STATES, timeout=60)
    assert op.state == BulkOperation.State.SUCCEEDED
    assert op.failed_count == 0 and op.done_count == 30
    assert sum(op.chunks.values_list("rate_limited", flat=True)) == 5
    assert_exactly_once(spy, 30)


def test_redis_down_at_confirm_queues_then_the_sweeper_completes(
    ws, emu, bob, spy, start_worker, private_redis, client_for
):
    seed_failed(emu, 20)
    full_sync(ws)
    private_redis.stop()
    draft = drafts.create_draft(bob, action="retry", filter_query="state=failed")
    client = client_for(bob)
    response = client.post(f"/bulk/{draft.pk}/confirm/", {"reason": "broker down"})
    assert response.status_code == 302
    page = client.get(f"/bulk/{draft.pk}/")
    assert page.status_code == 200
    assert b"waiting for a worker" in page.content
    assert state_of(draft) == BulkOperation.State.QUEUED
    assert not BulkChunk.objects.filter(operation=draft, enqueued_at__isnull=False)
    private_redis.start()
    _reset_pools()
    start_worker(REDIS_URL=private_redis.url)
    assert execution.sweep_chunks()["enqueued"] == 2
    wait_until(lambda: state_of(draft) in BulkOperation.TERMINAL_STATES, timeout=30)
    assert draft.state == BulkOperation.State.SUCCEEDED
    assert_exactly_once(spy, 20)


def test_a_redis_restart_mid_operation_is_survived(
    ws, emu, bob, spy, start_worker, private_redis
):
    seed_failed(emu, 60)
    full_sync(ws)
    emu.faults.add(kind="latency", latency_ms=400, path=r"/work-items/batch$")
    start_worker(REDIS_URL=private_redis.url)
    op = confirmed(ws, bob)
    wait_until(lambda: len(spy.calls) >= 1, timeout=30)
    private_redis.stop()  # queued messages are lost (no persistence)
    time.sleep(0.5)
    private_redis.start()
    _reset_pools()
    sweeps: list[dict[str, int]] = []

    def swept_and_ended() -> bool:
        sweeps.append(execution.sweep_chunks())
        return state_of(op) in BulkOperation.TERMINAL_STATES

    wait_until(swept_and_ended, timeout=90, interval=1.0)
    # Lost messages were re-sent from the database.
    assert sum(s["enqueued"] for s in sweeps) > 0
    assert op.state == BulkOperation.State.SUCCEEDED
    assert op.done_count == 60
    assert_exactly_once(spy, 60)
