"""Simulated schedules: one run every N simulated seconds, round-robin over processes, driven by `advance()`."""

from __future__ import annotations

import itertools
import json
import pickle
import signal
import subprocess
import sys
import time
from typing import Any

import pytest
import requests

from robocorp_api.emulator import EmulatorServer

from .emu_helpers import Api, error


def _scheduled(api: Api) -> list[dict[str, Any]]:
    """Process runs started by the schedule, oldest first."""
    runs = api.collect("process-runs", limit=1000)
    return [r for r in reversed(runs) if r["started_by"]["type"] == "schedule"]


def _process_id(run: dict[str, Any]) -> str:
    process_id: str = run["process"]["id"]
    return process_id


def test_schedule_starts_one_run_per_interval_round_robin(emulator_factory):
    emu = emulator_factory(schedule_every=60)
    emu.pause_robots()
    api = Api(emu)
    first = emu.store.add_process("Invoice Processing", failure_rate=1.0)
    second = emu.store.add_process("Order Intake", failure_rate=0.0)
    emu.advance(59)
    assert _scheduled(api) == []
    emu.advance(2)
    runs = _scheduled(api)
    assert len(runs) == 1 and _process_id(runs[0]) == first.id
    items = api.collect("work-items", process_run_id=runs[0]["id"])
    assert 20 <= len(items) <= 80
    payload = api.get(f"work-items/{items[0]['id']}").json()["payload"]
    assert isinstance(payload, dict) and "invoice_number" in payload
    emu.advance(60)
    runs = _scheduled(api)
    assert [_process_id(r) for r in runs] == [first.id, second.id]
    emu.advance(60)
    assert [_process_id(r) for r in _scheduled(api)] == [first.id, second.id, first.id]
    # the robots process scheduled runs with the process's failure mix
    emu.advance(3600)
    by_id = {r["id"]: r for r in api.collect("process-runs", limit=1000)}
    assert by_id[runs[0]["id"]]["state"] == "unresolved"
    assert by_id[runs[1]["id"]]["state"] == "completed"
    assert (
        api.get("work-items", process_run_id=runs[0]["id"], state="failed").json()[
            "data"
        ]
        != []
    )


def test_schedule_catches_up_in_time_order_and_is_repeatable(emulator_factory):
    sizes = []
    for _ in range(2):
        emu = emulator_factory(schedule_every=60, rng_seed=7)
        emu.pause_robots()
        for name in ("A", "B", "C"):
            emu.store.add_process(name, failure_rate=0.0)
        emu.advance(60 * 5 + 1)
        runs = [r for r in emu.store.runs if r.started_by == "schedule"]
        assert [emu.store.processes[r.process_idx].name for r in runs] == [
            "A",
            "B",
            "C",
            "A",
            "B",
        ]
        created = [r.created_at for r in runs]
        assert [b - a for a, b in itertools.pairwise(created)] == pytest.approx(
            [60.0] * 4
        )
        sizes.append([len(r.items) for r in runs])
        emu.stop()
    assert sizes[0] == sizes[1] and len(set(sizes[0])) > 1


def test_schedule_skips_deleted_processes_and_waits_without_processes(
    emulator_factory,
):
    emu = emulator_factory(schedule_every=30)
    emu.pause_robots()
    emu.advance(31)  # no process yet: nothing to start, the next interval is still due
    assert emu.store.runs == []
    kept = emu.store.add_process("Kept", failure_rate=0.0)
    gone = emu.store.add_process("Gone", failure_rate=0.0)
    gone.deleted = True
    emu.advance(60)
    assert [emu.store.processes[r.process_idx].id for r in emu.store.runs] == [
        kept.id,
        kept.id,
    ]


@pytest.mark.parametrize("seed", ["empty", "large:1000"])
def test_schedule_is_off_by_default_except_for_demo(seed):
    emu = EmulatorServer(seed=seed)
    assert emu.store.schedule_every == 0 and emu.store.schedule_next is None
    assert emu.schedule_description() == "off"
    emu.store.add_process("Idle", failure_rate=0.0)
    emu.pause_robots()
    before = len(emu.store.runs)
    emu.advance(3600)
    assert len(emu.store.runs) == before


def test_demo_seed_schedules_every_five_minutes_and_can_be_turned_off():
    demo = EmulatorServer(seed="demo")
    assert demo.store.schedule_every == 300
    demo.pause_robots()
    before = len(demo.store.runs)
    demo.advance(301)
    assert len(demo.store.runs) == before + 1
    assert demo.store.runs[-1].started_by == "schedule"
    off = EmulatorServer(seed="demo", schedule_every=0)
    off.pause_robots()
    before = len(off.store.runs)
    off.advance(3600)
    assert len(off.store.runs) == before
    with pytest.raises(ValueError, match="schedule_every"):
        EmulatorServer(seed="empty", schedule_every=-1)


def test_admin_endpoint_changes_the_schedule(emu):
    api = Api(emu)
    emu.store.add_process("Admin Scheduled", failure_rate=0.0)
    robots = f"{emu.url}/__emulator__/robots"
    info = requests.get(f"{emu.url}/__emulator__/info", timeout=5).json()
    assert info["schedule_every"] == 0 and info["schedule_next_at"] is None
    answer = requests.post(robots, json={"schedule_every": 120}, timeout=5)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["schedule_every"] == 120 and body["paused"] is True
    assert body["schedule_next_at"] == pytest.approx(emu.store.now() + 120)
    emu.advance(119)
    assert _scheduled(api) == []
    emu.advance(2)
    assert len(_scheduled(api)) == 1
    off = requests.post(robots, json={"schedule_every": 0}, timeout=5).json()
    assert off["schedule_every"] == 0 and off["schedule_next_at"] is None
    emu.advance(1000)
    assert len(_scheduled(api)) == 1
    for bad in (-5, 0.5, "60", True):
        message = error(
            requests.post(robots, json={"schedule_every": bad}, timeout=5), 400
        )
        assert "schedule_every" in message["message"]
    assert emu.store.schedule_every == 0


def test_schedule_survives_a_state_round_trip(tmp_path, emulator_factory):
    state = tmp_path / "schedule.pickle"
    emu = emulator_factory(state_file=state, schedule_every=90)
    emu.pause_robots()
    first = emu.store.add_process("First", failure_rate=0.0)
    second = emu.store.add_process("Second", failure_rate=0.0)
    emu.advance(91)
    due = emu.store.schedule_next
    assert due is not None
    emu.stop()
    again = emulator_factory(state_file=state)  # no schedule_every: keep the saved one
    again.pause_robots()
    assert again.store.schedule_every == 90 and again.store.schedule_next == due
    again.advance(due - again.store.now() + 0.5)
    runs = [r for r in again.store.runs if r.started_by == "schedule"]
    assert [again.store.processes[r.process_idx].id for r in runs] == [
        first.id,
        second.id,
    ]
    again.stop()
    overridden = emulator_factory(state_file=state, schedule_every=0)
    assert overridden.store.schedule_every == 0
    assert overridden.store.schedule_next is None


def test_a_long_downtime_fires_a_missed_schedule_once(tmp_path):
    state = tmp_path / "downtime.pickle"
    emu = EmulatorServer(state_file=state, schedule_every=60)
    emu.pause_robots()
    emu.store.add_process("Nightly", failure_rate=0.0)
    emu.store.schedule_next = emu.store.now() - 10 * 60 - 5  # down for ten intervals
    emu.save_state()
    again = EmulatorServer(state_file=state)
    again.pause_robots()
    now = again.store.now()
    assert again.store.schedule_next is not None
    assert now - 60 < again.store.schedule_next <= now
    again.advance(0)
    assert [r.started_by for r in again.store.runs] == ["schedule"]


def test_cli_prints_the_schedule_and_rejects_a_bad_one():
    command = [sys.executable, "-m", "robocorp_api.emulator", "--port", "0"]
    bad = subprocess.run(
        [*command, "--seed", "empty", "--schedule-every", "-3"],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "--schedule-every" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    proc = subprocess.Popen(
        [*command, "--seed", "empty", "--schedule-every", "45"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        while not lines or not lines[-1].startswith("{"):
            line = proc.stdout.readline()
            assert line, proc.stderr.read() if proc.stderr else ""
            lines.append(line)
        assert any(
            "schedule:" in line and "one run every 45 simulated s" in line
            for line in lines
        ), lines
        info = json.loads(lines[-1])
        admin = requests.get(f"{info['url']}/__emulator__/info", timeout=5).json()
        assert admin["schedule_every"] == 45
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=15)
    assert proc.returncode == 0


def test_a_state_file_from_before_schedules_gets_the_seed_default(tmp_path):
    state = tmp_path / "old.pickle"
    EmulatorServer(seed="demo", state_file=state, schedule_every=0).save_state()
    saved = pickle.loads(state.read_bytes())
    for name in list(saved):
        if name.startswith("schedule_"):
            del saved[name]
    state.write_bytes(pickle.dumps(saved))
    assert EmulatorServer(seed="demo", state_file=state).store.schedule_every == 300
    assert EmulatorServer(seed="empty", state_file=state).store.schedule_every == 0


def test_live_robots_start_scheduled_runs_at_speed(emulator_factory):
    emu = emulator_factory(schedule_every=10, speed=100)
    emu.store.add_process("Fast", failure_rate=0.0, item_seconds=0.1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with emu.store.lock:
            done = [r for r in emu.store.runs if r.state == "completed"]
        if len(done) >= 2:
            break
        time.sleep(0.05)
    assert len(done) >= 2 and all(r.started_by == "schedule" for r in done)
