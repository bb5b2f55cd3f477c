"""The sync through real Celery workers (subprocesses) on the real Redis, against the emulator:
convergence, one sync at a time, a worker SIGKILLed mid-sync, transient errors retried.

The workers use this test's database (file SQLite or PostgreSQL) and a queue of their own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dashboard.mirror.models import SyncRun, WorkItem
from dashboard.mirror.services.syncruns import sweep, sync_request
from tests.dashboard.mirror.helpers import add_runs, assert_converged, truth_items
from tests.dashboard.support.workers import Worker, Workers, wait_until

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.worker,
    pytest.mark.emulator,
    pytest.mark.slow,
]

LEASE_SECONDS = 3


@pytest.fixture
def start_worker(
    subprocess_env: dict[str, str], sync_queue: str, tmp_path: Path
) -> Iterator[Callable[..., Worker]]:
    env = {
        **subprocess_env,
        "DJANGO_SETTINGS_MODULE": "tests.dashboard.mirror.mirror_settings",
        "WORKROOM_SYNC_QUEUE": sync_queue,
        "WORKROOM_SYNC_LEASE_SECONDS": str(LEASE_SECONDS),
        "WORKROOM_SYNC_RETRY_BASE": "0",
        "WORKROOM_SYNC_PAGE_SIZE": "5",
        "WORKROOM_SYNC_PROGRESS_EVERY": "0.1",
    }
    with Workers(queue=sync_queue, env=env, log_dir=tmp_path, name="mirror") as workers:
        yield workers.start


def status_of(sync_run: SyncRun) -> str:
    sync_run.refresh_from_db()
    return sync_run.status


def test_sync_now_through_a_worker_converges(ws, emu, start_worker):
    add_runs(emu, processes=2, runs=2, items=9)
    worker = start_worker()
    sync_run = sync_request(workspace=ws, trigger=SyncRun.Trigger.MANUAL)
    wait_until(lambda: status_of(sync_run) not in SyncRun.ACTIVE_STATUSES, timeout=30)
    assert sync_run.status == SyncRun.Status.SUCCEEDED, (
        sync_run.error,
        worker.output(),
    )
    assert sync_run.requests_made > 0
    assert_converged(emu, ws)


def test_concurrent_triggers_run_one_sync(ws, emu, start_worker):
    add_runs(emu, processes=1, runs=2, items=6)
    emu.faults.add(kind="latency", latency_ms=150, path=r"/work-items", method="GET")
    results: list[SyncRun] = []

    def trigger(kind: str) -> None:
        results.append(sync_request(workspace=ws, trigger=kind))

    threads = [
        threading.Thread(target=trigger, args=(k,))
        for k in ("beat", "manual", "beat", "manual")
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({r.pk for r in results}) == 1
    full = results[0]
    start_worker()
    start_worker()  # a second, idle worker that takes the next message at once
    wait_until(lambda: status_of(full) == SyncRun.Status.RUNNING, timeout=20)
    # A sync of one run while the full sync holds the lease: it is skipped, not run alongside.
    targeted = sync_request(
        workspace=ws, trigger=SyncRun.Trigger.WEBHOOK, run_external_id="r-1"
    )
    wait_until(lambda: status_of(targeted) == SyncRun.Status.SKIPPED, timeout=20)
    wait_until(lambda: status_of(full) == SyncRun.Status.SUCCEEDED, timeout=60)
    assert full.attempt == 1
    emu.faults.clear()
    assert_converged(emu, ws)


def test_a_worker_killed_mid_sync_is_resumed_and_converges(ws, emu, start_worker):
    add_runs(emu, processes=2, runs=3, items=20)
    total = len(truth_items(emu))
    emu.faults.add(kind="latency", latency_ms=100, path=r"/work-items", method="GET")
    worker = start_worker()
    sync_run = sync_request(workspace=ws, trigger=SyncRun.Trigger.MANUAL)
    wait_until(
        lambda: SyncRun.objects.get(pk=sync_run.pk).rows_created >= 10, timeout=30
    )
    worker.kill()
    assert status_of(sync_run) == SyncRun.Status.RUNNING
    partial = WorkItem.objects.filter(workspace=ws).count()
    assert 0 < partial < total
    # Nothing happens while the dead worker's lease lasts; then the sweeper re-queues it.
    assert sweep()["orphaned"] == 0
    time.sleep(LEASE_SECONDS + 0.5)
    assert sweep()["orphaned"] == 1
    emu.faults.clear()
    start_worker()
    wait_until(lambda: status_of(sync_run) == SyncRun.Status.SUCCEEDED, timeout=30)
    assert sync_run.attempt == 2
    assert_converged(emu, ws)
    assert WorkItem.objects.filter(workspace=ws).count() == total  # no duplicates


def test_transient_errors_are_retried_by_the_task_with_backoff(
    ws, emu, start_worker, settings
):
    add_runs(emu, processes=1, runs=2, items=5)
    # More 503s in a row than the client retries (4): the task must retry the sync itself.
    emu.faults.add(kind="error", status=503, path=r"/processes$", method="GET", times=7)
    start_worker()
    sync_run = sync_request(workspace=ws, trigger=SyncRun.Trigger.BEAT)
    wait_until(lambda: status_of(sync_run) == SyncRun.Status.SUCCEEDED, timeout=60)
    assert sync_run.attempt >= 2
    assert_converged(emu, ws)
