"""The world the no-5xx suites act in: two teams, every role, a mirrored workspace each.

Team A: alice (admin), bob (operator), carol (viewer) with workspace A; team B: charlie (admin)
with workspace B on the same emulator. Known ids (of both teams) are offered to the generators
next to made-up ones, so every role also reaches pages of objects that exist.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.test import Client

from dashboard.accounts import services as account_services
from dashboard.accounts.models import Membership, Role, Team
from dashboard.mirror.models import Process, ProcessRun, StepRun, WorkItem
from dashboard.workitems.models import SavedView
from dashboard.workspaces.models import Workspace
from robocorp_api.emulator import EmulatorServer
from tests.dashboard.support.sync import full_sync
from tests.dashboard.support.workspaces import workspace_on_emulator
from tests.dashboard.workitems.conftest import (
    failing_run,
)


@dataclass
class World:
    emu: EmulatorServer
    workspaces: list[Workspace]
    clients: dict[str, Client]
    ints: list[int] = field(default_factory=list)
    slugs: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    uids: list[str] = field(default_factory=list)


def _known_ids(world: World) -> None:
    workspaces = world.workspaces
    world.ints = sorted(
        {w.pk for w in workspaces}
        | set(WorkItem.objects.values_list("pk", flat=True)[:5])
        | set(Process.objects.values_list("pk", flat=True))
        | set(Membership.objects.values_list("pk", flat=True))
        | set(SavedView.objects.values_list("pk", flat=True))
        | {1, 2}
    )
    world.slugs = [*Team.objects.values_list("slug", flat=True), "retry", "delete"]
    world.ids = [
        *ProcessRun.objects.values_list("external_id", flat=True)[:3],
        *StepRun.objects.values_list("external_id", flat=True)[:3],
        *Process.objects.values_list("external_id", flat=True),
    ]
    for step in world.emu.store.step_runs[:2]:
        world.emu.store.step_run_outputs(step)
        world.ids += [a.id for a in step.artifacts or []]
    world.uids = [str(w.uid) for w in workspaces] + [str(uuid.uuid4())]


@pytest.fixture
def world(
    emu: EmulatorServer,
    team_a: Team,
    team_b: Team,
    alice: Any,
    bob: Any,
    carol: Any,
    charlie: Any,
    client_for: Any,
) -> World:
    ws_a = workspace_on_emulator(emu, team_a, name="Fuzz A", added_by=alice)
    ws_b = workspace_on_emulator(emu, team_b, name="Fuzz B", added_by=charlie)
    failing_run(emu)
    full_sync(ws_a)
    full_sync(ws_b)
    _, token = account_services.create_invitation(team_a, alice, Role.VIEWER)
    SavedView.objects.create(team=team_a, name="Failed", query="state=failed")
    clients = {
        "anonymous": client_for(None),
        "viewer": client_for(carol),
        "operator": client_for(bob),
        "admin": client_for(alice),
        "other team": client_for(charlie),
    }
    world = World(emu=emu, workspaces=[ws_a, ws_b], clients=clients)
    _known_ids(world)
    world.tokens = [token, "not-a-token"]
    return world
