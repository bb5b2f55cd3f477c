"""Shared fixtures of the dashboard tests: the small world of users, teams and workspaces.

Team A: alice (admin), bob (operator), carol (viewer). Team B: charlie (admin).
`workspace_a` / `workspace_b` are team A's / team B's workspaces on this test's emulator (`emu`),
added through the real service; both point at the same Control Room workspace.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from dashboard.accounts.models import Role, Team
from dashboard.workspaces.models import Workspace
from robocorp_api.emulator import EmulatorServer
from tests.dashboard.factories import PASSWORD, add_member, make_team, make_user
from tests.dashboard.support.workspaces import workspace_on_emulator

__all__ = [
    "PASSWORD",
    "alice",
    "bob",
    "carol",
    "charlie",
    "client_for",
    "team_a",
    "team_b",
    "workspace_a",
    "workspace_b",
]


@pytest.fixture
def alice(db: None) -> Any:
    return make_user("alice")


@pytest.fixture
def bob(db: None) -> Any:
    return make_user("bob")


@pytest.fixture
def carol(db: None) -> Any:
    return make_user("carol")


@pytest.fixture
def charlie(db: None) -> Any:
    return make_user("charlie")


@pytest.fixture
def team_a(alice: Any, bob: Any, carol: Any) -> Team:
    team = make_team("Team A", admin=alice)
    add_member(team, bob, Role.OPERATOR)
    add_member(team, carol, Role.VIEWER)
    return team


@pytest.fixture
def team_b(charlie: Any) -> Team:
    return make_team("Team B", admin=charlie)


@pytest.fixture
def client_for() -> Callable[[Any], Client]:
    """Return a factory of logged-in test clients."""

    def make(user: Any) -> Client:
        client = Client()
        if user is not None:
            client.force_login(user)
        return client

    return make


@pytest.fixture
def workspace_a(team_a: Team, alice: Any, emu: EmulatorServer) -> Workspace:
    return workspace_on_emulator(emu, team_a, name="Production A", added_by=alice)


@pytest.fixture
def workspace_b(team_b: Team, charlie: Any, emu: EmulatorServer) -> Workspace:
    return workspace_on_emulator(emu, team_b, name="Production B", added_by=charlie)
