"""Fixtures of the mirror tests: team A's workspace on this test's emulator (`emu`) and a
Celery queue of the test's own."""

from __future__ import annotations

from typing import Any

import pytest

from dashboard.workspaces.models import Workspace
from robocorp_api.emulator import EmulatorServer
from tests.dashboard.support.workspaces import workspace_on_emulator


@pytest.fixture
def ws(team_a: Any, emu: EmulatorServer) -> Workspace:
    return workspace_on_emulator(emu, team_a, name="Mirror WS")


@pytest.fixture
def sync_queue(settings: Any, redis_client: Any) -> Any:
    """Route sync tasks to a queue of this test's own, removed afterwards (a dev worker on the
    default queue never sees them)."""
    import uuid

    name = f"mirror-test-{uuid.uuid4().hex[:10]}"
    settings.WORKROOM_SYNC_QUEUE = name
    yield name
    redis_client.delete(name)
