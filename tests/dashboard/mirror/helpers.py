"""Builders and comparisons for the mirror tests: emulator data in, mirror rows out."""

from __future__ import annotations

import base64
import json
from typing import Any

from dashboard.mirror.models import Process, ProcessRun, StepRun, WorkItem
from dashboard.workspaces.models import Workspace
from robocorp_api.client import ControlRoomClient
from robocorp_api.emulator import EmulatorServer
from robocorp_api.emulator.items import STATES as ITEM_STATES


def add_runs(
    emu: EmulatorServer,
    *,
    processes: int = 2,
    runs: int = 2,
    items: int = 12,
    failure_rate: float = 0.3,
    finish: bool = True,
) -> list[Any]:
    """Create processes with runs of `items` items each; let the robots finish them."""
    made = []
    for p in range(processes):
        proc = emu.store.add_process(
            f"Process {len(emu.store.processes)}-{p}",
            steps=["Read", "Post"],
            item_seconds=1.0,
            failure_rate=failure_rate,
        )
        for _ in range(runs):
            made.append(
                emu.store.create_run(
                    proc.id, payloads=[{"order": k} for k in range(items)]
                )
            )
    if finish:
        emu.advance(3600)
    return made


def client_for(emu: EmulatorServer, **kwargs: Any) -> ControlRoomClient:
    return ControlRoomClient(
        emu.api_key, workspace_id=emu.workspace_id, base_url=emu.api_base_url, **kwargs
    )


def truth_items(emu: EmulatorServer) -> dict[str, tuple[Any, ...]]:
    """Every work item of the emulator, read over its API: id → comparable fields."""
    with client_for(emu) as client:
        return {
            i.id: (
                i.state,
                i.state_updated_at,
                i.created_at,
                i.process.id,
                i.process_run.id if i.process_run else "",
                i.step_run.id if i.step_run else "",
                i.exception.type if i.exception else "",
                i.exception.code if i.exception else "",
                i.exception.message if i.exception else "",
            )
            for i in client.work_items.list(limit=1000)
        }


def mirror_items(workspace: Workspace) -> dict[str, tuple[Any, ...]]:
    rows = WorkItem.objects.filter(workspace=workspace, gone_at__isnull=True)
    return {
        r.external_id: (
            r.state,
            r.state_updated_at,
            r.created_at,
            r.process_external_id,
            r.process_run_external_id,
            r.step_run_external_id,
            r.exception_type,
            r.exception_code,
            r.exception_message,
        )
        for r in rows
    }


def truth_runs(emu: EmulatorServer) -> dict[str, str]:
    with client_for(emu) as client:
        return {r.id: r.state for r in client.process_runs.list(limit=1000)}


def mirror_runs(workspace: Workspace) -> dict[str, str]:
    rows = ProcessRun.objects.filter(workspace=workspace, gone_at__isnull=True)
    return dict(rows.values_list("external_id", "state"))


def truth_step_runs(emu: EmulatorServer) -> dict[str, str]:
    with client_for(emu) as client:
        return {
            s.id: s.state
            for run in client.process_runs.list(limit=1000)
            for s in client.step_runs.list(run.id, limit=1000)
        }


def mirror_step_runs(workspace: Workspace) -> dict[str, str]:
    rows = StepRun.objects.filter(workspace=workspace, gone_at__isnull=True)
    return dict(rows.values_list("external_id", "state"))


def assert_converged(emu: EmulatorServer, workspace: Workspace) -> None:
    assert mirror_items(workspace) == truth_items(emu)
    assert mirror_runs(workspace) == truth_runs(emu)
    assert mirror_step_runs(workspace) == truth_step_runs(emu)
    live = {p.id: p.name for p in emu.store.live_processes()}
    mirrored = dict(
        Process.objects.filter(workspace=workspace, gone_at__isnull=True).values_list(
            "external_id", "name"
        )
    )
    assert mirrored == live


def queued_messages(redis_client: Any, queue: str) -> list[int]:
    """Return the SyncRun ids of the task messages waiting in `queue`."""
    ids = []
    for raw in redis_client.lrange(queue, 0, -1):
        message = json.loads(raw)
        body = json.loads(base64.b64decode(message["body"]))
        ids.append(body[0][0])
    return ids


def emulator_idle(emu: EmulatorServer) -> bool:
    """No work item or run of the emulator is still moving (`new` items wait for someone to
    start a run with them)."""
    with emu.store.lock:
        counts = emu.store.items.count()
        runs_active = any(
            not run.deleted and run.state not in ("completed", "unresolved")
            for run in emu.store.runs
        )
    return not runs_active and not any(
        counts.get(s, 0) for s in ("pending", "in_progress")
    )


def differences(emu: EmulatorServer, ws: Workspace, ids: list[str]) -> int:
    """How many of the items `ids` and their runs differ between the mirror and the
    emulator, read straight from the emulator's store: the polling must not load the process that hosts the emulator and
    the webhook receiver (a `mirror_check` over HTTP decodes 21,829 items each time); the
    whole `mirror_check` confirms the result at the end."""
    store = emu.store
    with store.lock:
        rows = [store.items.parse_id(ext) for ext in ids]
        items = {
            ext: ITEM_STATES[store.items.state[row]]
            for ext, row in zip(ids, rows, strict=True)
            if row is not None
        }
        run_idx = {store.items.run[row] for row in rows if row is not None}
        runs = {store.runs[i].id: store.runs[i].state for i in run_idx if i >= 0}
    live_items = dict(
        WorkItem.objects.filter(
            workspace=ws, gone_at__isnull=True, external_id__in=ids
        ).values_list("external_id", "state")
    )
    live_runs = dict(
        ProcessRun.objects.filter(
            workspace=ws, gone_at__isnull=True, external_id__in=list(runs)
        ).values_list("external_id", "state")
    )
    return _differ(items, live_items) + _differ(runs, live_runs)


def _differ(truth: dict[str, str], mirror: dict[str, str]) -> int:
    return sum(mirror.get(k) != v for k, v in truth.items()) + len(
        mirror.keys() - truth.keys()
    )
