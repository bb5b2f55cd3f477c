"""Small builders for dashboard test data (plain functions; no factory library needed)."""

from __future__ import annotations

import itertools
from typing import Any

from django.contrib.auth import get_user_model

from dashboard.accounts.models import Membership, Role, Team
from dashboard.lib import secretbox
from dashboard.workspaces.models import Workspace

PASSWORD = "correct-horse-battery-42"
_seq = itertools.count(1)


def make_user(username: str | None = None, password: str = PASSWORD) -> Any:
    username = username or f"user{next(_seq)}"
    return get_user_model().objects.create_user(username=username, password=password)


def make_team(name: str | None = None, *, admin: Any = None) -> Team:
    name = name or f"Team {next(_seq)}"
    team = Team.objects.create(name=name, slug=f"team-{next(_seq)}")
    if admin is not None:
        add_member(team, admin, Role.ADMIN)
    return team


def add_member(team: Team, user: Any, role: Role) -> Membership:
    return Membership.objects.create(team=team, user=user, role=role)


def make_workspace_row(
    team: Team,
    *,
    api_key: str = "not-a-real-key-0000",
    base_url: str = "http://127.0.0.1:9/api/v1",
    cr_workspace_id: str | None = None,
    **fields: Any,
) -> Workspace:
    """Store a workspace directly (no Control Room verification), key encrypted as the service does."""
    workspace = Workspace(
        team=team,
        name=fields.pop("name", f"Workspace {next(_seq)}"),
        base_url=base_url,
        cr_workspace_id=cr_workspace_id or f"ws-{next(_seq)}",
        **fields,
    )
    workspace.api_key_ciphertext = secretbox.encrypt(
        api_key, context=str(workspace.uid)
    )
    workspace.api_key_key_id = secretbox.key_id_of(workspace.api_key_ciphertext)
    workspace.api_key_hint = api_key[-4:]
    workspace.save()
    return workspace
