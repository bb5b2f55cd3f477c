"""Fixtures of the fleet tests: team A's workspace on this test's emulator, added through the
real service (its key's permissions probed), workers read by every sync."""

from __future__ import annotations

from typing import Any

import pytest

from dashboard.accounts.models import Team
from dashboard.workspaces.models import Workspace
from robocorp_api.emulator import EmulatorServer
from tests.dashboard.support.workspaces import workspace_on_emulator


@pytest.fixture
def ws(team_a: Team, alice: Any, emu: EmulatorServer, settings: Any) -> Workspace:
    settings.WORKROOM_SYNC_WORKERS_SECONDS = 0
    return workspace_on_emulator(emu, team_a, name="Fleet WS", added_by=alice)
