"""Fixtures of the mirror tests: a private emulator (robots paused) and a workspace bound to it."""

from __future__ import annotations

from typing import Any

import pytest

from dashboard.workspaces.models import Workspace
from robocorp_api.emulator import EmulatorServer
from tests.dashboard.mirror.helpers import make_workspace


@pytest.fixture
def emu(fresh_emulator: EmulatorServer) -> EmulatorServer:
    return fresh_emulator


@pytest.fixture
def ws(team_a: Any, emu: EmulatorServer) -> Workspace:
    return make_workspace(team_a, emu, name="Mirror WS")


@pytest.fixture
def sync_queue(settings: Any, redis_client: Any) -> Any:
    """Route sync tasks to a queue of this test's own, removed afterwards (a dev worker on the
    default queue never sees them)."""
    import uuid

    name = f"mirror-test-{uuid.uuid4().hex[:10]}"
    settings.WORKROOM_SYNC_QUEUE = name
    yield name
    redis_client.delete(name)
