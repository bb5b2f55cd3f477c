"""Workers and worker groups in the mirror: read by the sync within its request budget, state
changes recorded, gone ones marked; the "items pending, no worker online" selector."""

from __future__ import annotations

import pytest

from dashboard.mirror.models import (
    Worker,
    WorkerGroup,
    WorkerStateChange,
    WorkspaceSyncState,
)
from dashboard.mirror.selectors import no_worker_warnings
from tests.dashboard.support.sync import full_sync
from tests.dashboard.support.workspaces import workspace_on_emulator

pytestmark = [pytest.mark.emulator, pytest.mark.django_db]


def _states(ws) -> dict[str, str]:
    return dict(
        Worker.objects.filter(workspace=ws, gone_at__isnull=True).values_list(
            "name", "state"
        )
    )


def test_a_sync_mirrors_workers_and_records_their_state_changes(emu, ws):
    full_sync(ws)
    assert _states(ws) == {"worker-eu1-01": "idle", "worker-eu1-02": "idle"}
    assert list(
        WorkerGroup.objects.filter(workspace=ws).values_list("name", flat=True)
    ) == ["Default"]
    assert WorkspaceSyncState.objects.get(workspace=ws).last_workers_read_at is not None

    emu.set_worker_online("worker-eu1-01", False)
    full_sync(ws)
    assert _states(ws)["worker-eu1-01"] == "offline"
    change = WorkerStateChange.objects.get(worker__name="worker-eu1-01")
    assert (change.old_state, change.new_state) == ("idle", "offline")
    worker = Worker.objects.get(workspace=ws, name="worker-eu1-01")
    assert worker.last_online_at is not None and not worker.is_online

    emu.set_worker_online("worker-eu1-01", True)
    full_sync(ws)
    assert _states(ws)["worker-eu1-01"] == "idle"
    assert WorkerStateChange.objects.filter(worker=worker).count() == 2


def test_a_removed_worker_is_marked_gone(emu, ws):
    full_sync(ws)
    worker = emu.store.fleet.find_worker("worker-eu1-02")
    with emu.store.lock:
        del emu.store.fleet.workers[worker.id]
    full_sync(ws)
    gone = Worker.objects.get(workspace=ws, name="worker-eu1-02")
    assert gone.gone_at is not None
    assert gone.state_changes.get().new_state == "gone"


def test_workers_are_read_at_most_every_interval(emu, ws, settings):
    settings.WORKROOM_SYNC_WORKERS_SECONDS = 3600
    _, first = full_sync(ws)
    emu.set_worker_online("worker-eu1-01", False)
    _, second = full_sync(ws)
    assert first == second + 2  # the two lists, read by the first sync only
    assert _states(ws)["worker-eu1-01"] == "idle"  # not read again yet
    settings.WORKROOM_SYNC_WORKERS_SECONDS = 0
    _, third = full_sync(ws)
    assert third == second + 2
    assert _states(ws)["worker-eu1-01"] == "offline"


def test_a_key_without_read_workers_syncs_without_them(emu, team_a, alice):
    key = emu.create_key(
        ["read_processes", "read_runs", "read_work_items", "read_run_outputs"]
    )
    limited = workspace_on_emulator(
        emu, team_a, name="Limited", api_key=key, added_by=alice
    )
    assert limited.permissions["read_workers"] is False
    result, _ = full_sync(limited)
    assert not result.partial
    assert not Worker.objects.filter(workspace=limited).exists()


def test_the_warning_needs_pending_items_and_no_online_worker(emu, ws):
    process = emu.store.add_process("Invoices", steps=["Post"], failure_rate=0.0)
    full_sync(ws)
    assert no_worker_warnings([ws]) == []  # nothing pending
    for name in ("worker-eu1-01", "worker-eu1-02"):
        emu.set_worker_online(name, False)
    emu.store.create_run(process.id, payloads=[{"n": n} for n in range(3)])
    emu.advance(30)
    full_sync(ws)
    [warning] = no_worker_warnings([ws])
    assert (warning.pending, warning.workers) == (3, 2)
    mirrored = ws.mirror_processes.get()
    assert [w.pending for w in no_worker_warnings([ws], process=mirrored)] == [3]

    emu.set_worker_online("worker-eu1-02", True)
    full_sync(ws)
    assert (
        no_worker_warnings([ws]) == []
    )  # a worker is back: no warning even before items move
