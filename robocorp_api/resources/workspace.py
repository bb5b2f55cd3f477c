"""Workspace: ``GET /workspaces/{workspace_id}`` (API.md §3.1)."""

from __future__ import annotations

from robocorp_api.models import Workspace
from robocorp_api.resources._base import Resource


class WorkspaceResource(Resource):
    def get(self) -> Workspace:
        """Return the workspace the client is bound to (needs no permission).

        Raises:
            AuthenticationFailed: the key is not valid.
            PermissionDenied: the key belongs to another workspace.
            ControlRoomError: any other failure.
        """
        return self._call("GET", "", Workspace)
