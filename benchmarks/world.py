"""The benchmarks' own little world: a team with one member and workspaces whose key is never
used (the benchmarks that need no Control Room write the mirror directly)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dashboard.accounts.models import Role


def bench_team(role: Role) -> tuple[Any, Any]:
    """Return (user, team): the user "bench", a member of team "Bench" with `role`."""
    from django.contrib.auth import get_user_model

    from dashboard.accounts.models import Membership, Team

    # A throwaway database; the client logs in with force_login, the password is never used.
    user = get_user_model().objects.create_user("bench", password=None)
    team = Team.objects.create(name="Bench", slug="bench")
    Membership.objects.create(team=team, user=user, role=role)
    return user, team


def bench_workspace(team: Any, index: int, **fields: Any) -> Any:
    """Create workspace "Production <index>" of `team` with a sealed, never-used key."""
    from dashboard.lib import secretbox
    from dashboard.workspaces.models import Workspace

    ws = Workspace(
        team=team,
        name=f"Production {index}",
        base_url="https://cloud.robocorp.com/api/v1",
        cr_workspace_id=f"ws-{index}",
        **fields,
    )
    ws.api_key_ciphertext = secretbox.encrypt("bench-key-not-real", context=str(ws.uid))
    ws.api_key_key_id = secretbox.key_id_of(ws.api_key_ciphertext)
    ws.api_key_hint = "real"
    ws.save()
    return ws
