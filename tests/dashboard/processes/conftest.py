"""Fixtures of the process/run page tests: team A's workspace on this test's emulator (`emu`),
added through the real service (so its key permissions are really probed)."""

from __future__ import annotations

from typing import Any

import pytest

from dashboard.accounts.models import Team
from dashboard.workspaces.models import Workspace
from robocorp_api.emulator import EmulatorServer
from tests.dashboard.support.sync import full_sync
from tests.dashboard.support.workspaces import workspace_on_emulator


@pytest.fixture
def ws(team_a: Team, alice: Any, emu: EmulatorServer) -> Workspace:
    return workspace_on_emulator(emu, team_a, name="Runs WS", added_by=alice)


@pytest.fixture
def process(emu: EmulatorServer, ws: Workspace) -> Any:
    """A process in the emulator, mirrored (one full sync)."""
    proc = emu.store.add_process("Invoices", item_seconds=1.0, failure_rate=0.0)
    full_sync(ws)
    return proc
