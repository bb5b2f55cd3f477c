"""Fixtures of the API tests: tokens made through the token service, and a client that sends
one (Django's test client: the whole middleware stack, the real database and Redis)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from dashboard.accounts.models import Role, Team
from dashboard.api import tokens
from dashboard.audit.services import Actor
from dashboard.workspaces.models import Workspace
from robocorp_api.emulator import EmulatorServer
from tests.dashboard.support.workspaces import workspace_on_emulator

MakeToken = Callable[..., str]


@pytest.fixture
def make_token() -> MakeToken:
    """make_token(team, user, role=Role.OPERATOR, kind="service", name=...) → the value."""

    def make(
        team: Team,
        user: Any,
        role: int = Role.OPERATOR,
        *,
        kind: str = "service",
        name: str = "nightly-retry",
        **extra: Any,
    ) -> str:
        return tokens.create_token(
            team, user, Actor.of(user), name=name, kind=kind, role=role, **extra
        ).value

    return make


@pytest.fixture
def api_client() -> Callable[[str], Client]:
    def make(token: str) -> Client:
        return Client(headers={"Authorization": f"Bearer {token}"})

    return make


@pytest.fixture
def ws(team_a: Team, emu: EmulatorServer) -> Workspace:
    return workspace_on_emulator(emu, team_a, name="Production A")


@pytest.fixture(autouse=True)
def _no_rate_limit_by_default(settings: Any) -> None:
    settings.WORKROOM_API_RATE_LIMIT = 0
