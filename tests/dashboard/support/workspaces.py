"""The one way the tests put a workspace on the Control Room emulator.

`workspace_on_emulator(emu, team)` adds the workspace the way a team admin does, through
the workspace service: the key is verified against the emulator over HTTP and its
permissions are probed and stored. For a workspace with no Control Room behind it (never
contacted, or pointed at an unreachable address on purpose) use
`tests.dashboard.factories.make_workspace_row`.
"""

from __future__ import annotations

from typing import Any

from dashboard.accounts.models import Membership, Role, Team
from dashboard.workspaces import services as workspace_services
from dashboard.workspaces.models import Workspace
from robocorp_api.emulator import EmulatorServer


def workspace_on_emulator(
    emu: EmulatorServer,
    team: Team,
    *,
    name: str = "Emulated",
    api_key: str | None = None,
    added_by: Any = None,
) -> Workspace:
    """Add `team`'s workspace on `emu` through the real service and return it.

    `api_key` defaults to the emulator's all-permissions key (pass `emu.create_key([...])` for a
    limited one); `added_by` defaults to the team's first admin.
    """
    return workspace_services.add_workspace(
        team,
        added_by if added_by is not None else _first_admin(team),
        name=name,
        base_url=emu.api_base_url,
        cr_workspace_id=emu.workspace_id,
        api_key=api_key if api_key is not None else emu.api_key,
    )


def _first_admin(team: Team) -> Any:
    membership = (
        Membership.objects.filter(team=team, role=Role.ADMIN).order_by("pk").first()
    )
    return membership.user if membership is not None else None
