"""Seeds, `--state` persistence and the command line (a real subprocess on an ephemeral port)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
import requests

from robocorp_api.emulator import EmulatorServer

from .emu_helpers import Api


def test_demo_seed_meets_the_numbers(emulator_factory):
    emu = emulator_factory(seed="demo")
    assert emu.seed_seconds < 5
    api = Api(emu)
    processes = api.get("processes").json()["data"]
    assert len(processes) >= 5 and "Invoice Processing" in {
        p["name"] for p in processes
    }
    runs = api.collect("process-runs", limit=1000)
    assert len(runs) >= 200
    states = Counter(r["state"] for r in runs)
    assert (
        states["completed"] > states["unresolved"] > 0
        and states["new"] + states["in_progress"] >= 1
    )
    totals = emu.store.items.count()
    assert sum(totals.values()) >= 20_000
    assert 0.05 < totals["failed"] / sum(totals.values()) < 0.11
    failed = api.get("work-items", state="failed", limit=1000).json()["data"]
    assert len({f["exception"]["code"] for f in failed}) >= 10
    assert len({f["exception"]["message"] for f in failed}) >= 100
    assert any(any(ch.isdigit() for ch in f["exception"]["message"]) for f in failed)
    with_files = [emu.store.item_files(r) for r in range(2000)]
    assert any(with_files)
    first = api.get(f"work-items/{failed[0]['id']}").json()
    assert isinstance(first["payload"], dict) and first["payload"]


def test_large_seed_is_fast_and_compact():
    started = time.perf_counter()
    emu = EmulatorServer(seed="large:100000")
    assert time.perf_counter() - started < 5
    assert len(emu.store.items) == 100_000
    assert (
        not emu.store.items.payloads
    )  # payloads are derived lazily, nothing materialised


def test_state_round_trip(tmp_path, emulator_factory):
    state = tmp_path / "emulator.pickle"
    emu = emulator_factory(
        state_file=state, workspace_id="ws-roundtrip", api_key="key-roundtrip"
    )
    emu.pause_robots()
    process = emu.store.add_process("Persisted", failure_rate=1.0, item_seconds=1)
    run = emu.store.create_run(process.id, payloads=[{"keep": 1}])
    emu.advance(60)
    hook = (
        Api(emu)
        .post(
            "webhooks",
            {
                "endpoint": "http://127.0.0.1:9/h",
                "enabled_events": ["process_run.started"],
                "process": {"id": process.id},
            },
        )
        .json()
    )
    emu.stop()
    assert state.exists()
    again = emulator_factory(state_file=state, api_key="key-roundtrip")
    api = Api(again, "key-roundtrip")
    assert again.workspace_id == "ws-roundtrip"
    assert api.get(f"process-runs/{run.id}").json()["state"] == "unresolved"
    item = api.collect("work-items", process_run_id=run.id)[0]
    assert item["state"] == "failed" and api.get(f"work-items/{item['id']}").json()[
        "payload"
    ] == {"keep": 1}
    assert api.get(f"webhooks/{hook['id']}").json()["secret"] == hook["secret"]
    again.store.processes[process.idx].failure_rate = 0.0
    again.pause_robots()
    api.post(
        "work-items/batch", {"batch_operation": "retry", "work_item_ids": [item["id"]]}
    )
    again.advance(60)
    assert api.get(f"process-runs/{run.id}").json()["state"] == "completed"


def _launch(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "robocorp_api.emulator", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_cli_prints_json_line_and_stops_cleanly(tmp_path):
    state = tmp_path / "cli.pickle"
    proc = _launch(
        "--seed",
        "empty",
        "--api-key",
        "cli-key",
        "--state",
        str(state),
        "--fault",
        "kind=error,path=/processes$,status=503,times=1",
    )
    try:
        info = None
        deadline = time.monotonic() + 20
        while info is None and time.monotonic() < deadline:
            assert proc.stdout is not None and proc.stderr is not None
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            if line.startswith("{"):
                info = json.loads(line)
        assert info is not None
        assert set(info) == {
            "url",
            "api_base_url",
            "legacy_base_url",
            "workspace_id",
            "api_key",
        }
        assert info["api_key"] == "cli-key"
        headers = {"Authorization": "RC-WSKEY cli-key"}
        url = f"{info['api_base_url']}/workspaces/{info['workspace_id']}/processes"
        assert (
            requests.get(url, headers=headers, timeout=5).status_code == 503
        )  # the --fault rule
        assert requests.get(url, headers=headers, timeout=5).json() == {"data": []}
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=15)
    assert proc.returncode == 0
    assert "stopped" in out and state.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--seed", "huge"], "invalid seed"),
        (["--seed", "large:abc"], "large:N"),
        (["--speed", "0"], "--speed"),
        (["--fault", "kind=explode"], "unknown fault kind"),
        (["--port", "abc"], "invalid int value"),
    ],
)
def test_cli_bad_flags_exit_nonzero_with_one_line(args, message):
    proc = _launch(*args)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode != 0
    assert (
        message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    )
