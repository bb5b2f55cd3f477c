"""Fixtures of the process/run page tests: a private emulator (robots paused) and team A's
workspace on it, added through the real service (so its key permissions are really probed)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

from dashboard.accounts.models import Team
from dashboard.mirror.services.sync import WorkspaceSync
from dashboard.workspaces import services as workspace_services
from dashboard.workspaces.models import Workspace
from dashboard.workspaces.services import build_client
from robocorp_api.emulator import EmulatorServer


@pytest.fixture
def emu(fresh_emulator: EmulatorServer) -> EmulatorServer:
    return fresh_emulator


def add_workspace(
    team: Team,
    user: Any,
    emu: EmulatorServer,
    *,
    permissions: Iterable[str] | None = None,
    name: str = "Runs WS",
) -> Workspace:
    key = emu.api_key if permissions is None else emu.create_key(permissions)
    return workspace_services.add_workspace(
        team,
        user,
        name=name,
        base_url=emu.api_base_url,
        cr_workspace_id=emu.workspace_id,
        api_key=key,
    )


@pytest.fixture
def ws(team_a: Team, alice: Any, emu: EmulatorServer) -> Workspace:
    return add_workspace(team_a, alice, emu)


@pytest.fixture
def process(emu: EmulatorServer, ws: Workspace) -> Any:
    """A process in the emulator, mirrored (one full sync)."""
    proc = emu.store.add_process("Invoices", item_seconds=1.0, failure_rate=0.0)
    sync(ws)
    return proc


def sync(workspace: Workspace) -> None:
    with build_client(workspace) as client:
        WorkspaceSync(workspace, client).run_full()
