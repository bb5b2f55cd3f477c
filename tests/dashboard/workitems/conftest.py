"""Fixtures of the operations tests: mirror rows built directly (fast, for filters and
paging) and an emulator-backed workspace whose mirror is filled by the real sync."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dashboard.accounts.models import Team
from dashboard.mirror.models import Process, WorkItem, WorkspaceSyncState
from dashboard.mirror.normalise import message_signature
from dashboard.mirror.services.sync import refresh_item_counts
from dashboard.workitems import rollup
from dashboard.workspaces.models import Workspace
from robocorp_api.emulator import EmulatorServer
from tests.dashboard.factories import make_workspace_row
from tests.dashboard.support.sync import full_sync
from tests.dashboard.support.workspaces import workspace_on_emulator

_seq = itertools.count(1)
BASE_TIME = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def make_process(workspace: Workspace, name: str = "") -> Process:
    n = next(_seq)
    return Process.objects.create(
        workspace=workspace, external_id=f"proc-{n}", name=name or f"Process {n}"
    )


def make_items(
    process: Process, count: int, *, state: str = "done", start: int = 0, **fields: Any
) -> list[WorkItem]:
    """Create `count` mirror items, one minute apart, with optional exception fields."""
    rows = []
    for k in range(start, start + count):
        message = fields.get("exception_message", "")
        rows.append(
            WorkItem(
                workspace=process.workspace,
                process=process,
                process_external_id=process.external_id,
                external_id=f"{process.external_id}-item-{k}-{next(_seq)}",
                state=state,
                created_at=BASE_TIME + timedelta(minutes=k),
                state_updated_at=BASE_TIME + timedelta(minutes=k, seconds=30),
                message_signature=message_signature(message),
                **fields,
            )
        )
    made = WorkItem.objects.bulk_create(rows)
    # What a sync of the workspace keeps after writing items: counts and triage rollups.
    refresh_item_counts(process.workspace, {process.pk})
    rollup.refresh_workspace(process.workspace_id)
    return made


@pytest.fixture
def ws_a(team_a: Team) -> Workspace:
    """Team A's workspace, stored directly (no Control Room behind it)."""
    workspace = make_workspace_row(team_a, name="WS A")
    WorkspaceSyncState.objects.create(workspace=workspace, last_success_at=BASE_TIME)
    return workspace


@pytest.fixture
def ws_b(team_b: Team) -> Workspace:
    return make_workspace_row(team_b, name="WS B")


def failing_run(
    emu: EmulatorServer,
    *,
    items: int = 4,
    mix: tuple[float, float, float] = (0.0, 1.0, 0.0),
    name: str = "Invoices",
) -> Any:
    """A process whose robots fail every item (exception mix business/application/orchestrator)."""
    proc = emu.store.add_process(
        f"{name} {next(_seq)}", item_seconds=1.0, failure_rate=1.0, failure_mix=mix
    )
    emu.store.create_run(
        proc.id,
        payloads=[
            {"order": k, "customer": {"email": f"c{k}@example.com"}}
            for k in range(items)
        ],
    )
    emu.advance(600)
    return proc


@pytest.fixture
def emu_ws(emu: EmulatorServer, team_a: Team, alice: Any) -> Workspace:
    """Team A's workspace on this test's emulator (`emu`) with 4 failed items mirrored."""
    workspace = workspace_on_emulator(emu, team_a, added_by=alice)
    failing_run(emu)
    full_sync(workspace)
    return workspace


@pytest.fixture(autouse=True)
def send_at_once(settings: Any) -> None:
    """These tests check what a mark done / delete sends, so the undo window is off; the
    undo tests (test_collab_undo.py) turn it back on."""
    settings.WORKROOM_UNDO_SECONDS = 0
