"""Fixtures of the insights tests: team A's workspace on this test's emulator."""

from __future__ import annotations

from typing import Any

import pytest

from dashboard.workspaces.models import Workspace
from robocorp_api.emulator import EmulatorServer
from tests.dashboard.support.workspaces import workspace_on_emulator


@pytest.fixture
def ws(team_a: Any, emu: EmulatorServer) -> Workspace:
    return workspace_on_emulator(emu, team_a, name="Insights WS")
