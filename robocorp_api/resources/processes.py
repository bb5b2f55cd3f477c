"""Processes: ``GET {W}/processes`` (API.md §3.1)."""

from __future__ import annotations

from robocorp_api.models import Process
from robocorp_api.resources._base import Resource


class ProcessesResource(Resource):
    def list(self) -> list[Process]:
        """Return every process of the workspace (follows ``next`` if Control Room paginates).

        Raises:
            PermissionDenied: the key lacks ``Processes.read_processes``.
            ControlRoomError: any other failure.
        """
        return list(self._list("/processes", Process))
