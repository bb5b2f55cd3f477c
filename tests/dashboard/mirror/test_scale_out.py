"""Many workspaces on few workers: queues per kind of work, and a workspace whose Control
Room hangs holds one worker for the sync task's time limit at most, never for good.

The worker is a real prefork Celery worker (solo has no time limits) on this test's queue,
using this test's database; the Control Room that hangs is an emulator with a latency fault.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings

from dashboard.celery import app
from dashboard.mirror.models import SyncRun, WorkspaceSyncState
from dashboard.mirror.services.syncruns import sync_request
from robocorp_api.emulator import EmulatorServer
from tests.dashboard.mirror.helpers import add_runs
from tests.dashboard.support.workers import Workers, wait_until
from tests.dashboard.support.workspaces import workspace_on_emulator


def test_sync_and_bulk_work_have_queues_of_their_own_and_one_worker_can_take_all() -> (
    None
):
    routes = {
        name: app.amqp.router.route({}, name)["queue"].name
        for name in (
            "dashboard.mirror.tasks.sync_workspace",
            "dashboard.mirror.tasks.check_mirror",
            "dashboard.bulk.tasks.run_chunk",
            "dashboard.mirror.tasks.dispatch_due_syncs",
            "dashboard.alerts.tasks.evaluate_all",
        )
    }
    sync, bulk = (
        django_settings.WORKROOM_SYNC_QUEUE,
        django_settings.WORKROOM_BULK_QUEUE,
    )
    assert sync and bulk and sync != bulk != "celery"
    assert routes == {
        "dashboard.mirror.tasks.sync_workspace": sync,
        "dashboard.mirror.tasks.check_mirror": sync,
        "dashboard.bulk.tasks.run_chunk": bulk,
        # beat's ticks stay on the default queue: a flood of syncs never delays them
        "dashboard.mirror.tasks.dispatch_due_syncs": "celery",
        "dashboard.alerts.tasks.evaluate_all": "celery",
    }
    # A worker started without -Q (make run) consumes every queue.
    assert {"celery", sync, bulk} <= set(app.amqp.queues)


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
@pytest.mark.emulator
@pytest.mark.slow
def test_a_hung_workspace_holds_the_worker_for_the_time_limit_only(
    team_a: object,
    emulator_factory: Callable[..., EmulatorServer],
    subprocess_env: dict[str, str],
    sync_queue: str,
    tmp_path: Path,
    settings: Any,
) -> None:
    hung_emu = emulator_factory(seed="empty", workspace_id="ws-hung")
    healthy_emu = emulator_factory(seed="empty", workspace_id="ws-healthy")
    for emu in (hung_emu, healthy_emu):
        emu.pause_robots()
        add_runs(emu, processes=1, runs=1, items=3)
    hung = workspace_on_emulator(hung_emu, team_a, name="Hung")  # type: ignore[arg-type]
    healthy = workspace_on_emulator(healthy_emu, team_a, name="Healthy")  # type: ignore[arg-type]
    # Every answer 60 s late, inside the read timeout: only the time limit can end it.
    hung_emu.faults.add(kind="latency", latency_ms=60_000, path=r"^/api/")
    env = {
        **subprocess_env,
        "WORKROOM_SYNC_QUEUE": sync_queue,
        "WORKROOM_SYNC_SOFT_TIME_LIMIT": "4",
        "WORKROOM_SYNC_TIME_LIMIT": "8",
        "WORKROOM_SYNC_TIME_BUDGET": "2",
        "WORKROOM_SYNC_LEASE_SECONDS": "12",
        "WORKROOM_SYNC_READ_TIMEOUT": "90",
        "WORKROOM_SYNC_CLIENT_RETRIES": "0",
    }
    settings.WORKROOM_SYNC_SOFT_TIME_LIMIT = 4  # sent with the task by this process
    settings.WORKROOM_SYNC_TIME_LIMIT = 8
    with Workers(
        queue=sync_queue, env=env, log_dir=tmp_path, name="scale", pool="prefork"
    ) as workers:
        worker = workers.start()
        started = time.monotonic()
        stuck = sync_request(workspace=hung, trigger=SyncRun.Trigger.BEAT)
        behind = sync_request(workspace=healthy, trigger=SyncRun.Trigger.BEAT)

        def ended(sync_run: SyncRun) -> bool:
            sync_run.refresh_from_db()
            return sync_run.status not in SyncRun.ACTIVE_STATUSES

        # One worker process: the healthy workspace's sync runs only once the hung one
        # gave the worker back.
        wait_until(lambda: ended(behind), timeout=40)
        waited = time.monotonic() - started
        assert ended(stuck), worker.output()
    assert stuck.status == SyncRun.Status.FAILED, (stuck.error, worker.output())
    assert "time limit" in stuck.error
    assert behind.status == SyncRun.Status.SUCCEEDED, (behind.error, worker.output())
    assert 3 < waited < 30  # the soft limit (4 s), not the 60 s answer
    state = WorkspaceSyncState.objects.get(pk=hung.pk)
    assert state.lease_owner == "" and state.lease_until is None  # released, not left
    assert state.next_sync_at is not None  # the next sync continues where it stopped
