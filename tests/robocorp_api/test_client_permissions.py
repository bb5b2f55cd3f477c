"""``probe_permissions`` against keys with partial permissions (API.md §1.3), and proof it changes nothing."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from robocorp_api import PERMISSION_FEATURES, AuthenticationFailed, ControlRoomClient
from robocorp_api.emulator import EmulatorServer

pytestmark = pytest.mark.emulator

READS = [
    "read_processes",
    "read_runs",
    "read_work_items",
    "read_run_outputs",
    "read_webhooks",
]
WRITES = ["write_work_items", "trigger_processes", "write_webhooks"]


def probe(emu: EmulatorServer, key: str) -> dict[str, bool | None]:
    with ControlRoomClient(
        key, workspace_id=emu.workspace_id, base_url=emu.api_base_url, max_retries=0
    ) as client:
        result = client.probe_permissions()
        assert client.requests_made == len(PERMISSION_FEATURES)
        return result


def snapshot(emu: EmulatorServer) -> dict[str, Any]:
    store = emu.store
    with store.lock:
        return {
            "items": len(store.items),
            "states": bytes(store.items.state),
            "payloads": dict(store.items.payloads),
            "runs": [(r.id, r.state, r.stop_reason) for r in store.runs],
            "webhooks": sorted(store.webhooks),
            "processes": [p.id for p in store.processes],
        }


def test_an_all_permissions_key_can_do_everything(emu: EmulatorServer) -> None:
    assert probe(emu, emu.api_key) == dict.fromkeys(PERMISSION_FEATURES, True)


def test_a_read_only_key_cannot_write(emu: EmulatorServer) -> None:
    key = emu.create_key(
        [f"Processes.{p}" for p in READS[:4]] + ["Webhooks.read_webhooks"]
    )
    result = probe(emu, key)
    assert {k: v for k, v in result.items() if k in READS} == dict.fromkeys(READS, True)
    assert {k: v for k, v in result.items() if k in WRITES} == dict.fromkeys(
        WRITES, False
    )


@pytest.mark.parametrize("feature", PERMISSION_FEATURES)
def test_each_permission_is_told_apart(emu: EmulatorServer, feature: str) -> None:
    result = probe(emu, emu.create_key([feature]))
    assert result == {name: name == feature for name in PERMISSION_FEATURES}


def test_the_probe_changes_nothing(emu: EmulatorServer) -> None:
    emu.pause_robots()
    process = emu.store.add_process(f"Process {uuid.uuid4().hex[:8]}")
    run = emu.store.create_run(process.id, payloads=[{"n": 1}, {"n": 2}])
    assert run is not None
    emu.store.add_webhook(
        "https://example.test/hook", ["process_run.completed"], process
    )
    before = snapshot(emu)
    emu.stats.reset()

    assert probe(emu, emu.api_key) == dict.fromkeys(PERMISSION_FEATURES, True)
    assert probe(emu, emu.create_key(["read_runs"]))["read_runs"] is True

    assert snapshot(emu) == before
    by_status = emu.stats.snapshot()["by_status"]
    assert set(by_status) <= {"200", "403", "404"}


def test_an_invalid_key_raises(emu: EmulatorServer) -> None:
    with pytest.raises(AuthenticationFailed):
        probe(emu, "nobody-" + uuid.uuid4().hex)


def test_a_transient_failure_is_reported_as_unknown(
    emu: EmulatorServer,
) -> None:
    emu.faults.add(kind="error", path="/webhooks", status=503)
    result = probe_with_retries(emu)
    assert result["read_webhooks"] is None
    assert result["write_webhooks"] is None
    assert result["read_processes"] is True


def probe_with_retries(emu: EmulatorServer) -> dict[str, bool | None]:
    with ControlRoomClient(
        emu.api_key,
        workspace_id=emu.workspace_id,
        base_url=emu.api_base_url,
        max_retries=1,
        backoff_base=0.001,
    ) as client:
        return client.probe_permissions()
