"""The one way views load a workspace for the current user (its team's role decides)."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from django.shortcuts import get_object_or_404

from dashboard.accounts.models import Membership, User
from dashboard.accounts.permissions import Role, require_role
from dashboard.workspaces.models import Workspace


def workspace_for_user(
    user: User | AnonymousUser, workspace_id: int, minimum_role: Role
) -> tuple[Workspace, Membership]:
    """Return the workspace and the user's membership in its team.

    Raises Http404 when the workspace does not exist or the user is not in its team, and
    PermissionDenied when the user's role is below `minimum_role`.
    """
    workspace = get_object_or_404(
        Workspace.objects.select_related("team"), pk=workspace_id
    )
    return workspace, require_role(user, workspace.team, minimum_role)
