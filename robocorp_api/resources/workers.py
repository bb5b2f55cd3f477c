"""Workers and worker groups with their link tokens: ``{W}/workers``, ``{W}/worker-groups`` (API.md §3.1)."""

from __future__ import annotations

from datetime import datetime

from robocorp_api.models import (
    LinkToken,
    Worker,
    WorkerGroup,
    WorkerGroupLinkToken,
    WorkerGroupMembership,
)
from robocorp_api.pagination import Paginator
from robocorp_api.resources._base import Resource, seg


def _rfc3339(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("expires_at must be an aware datetime")
    return value.isoformat()


class WorkersResource(Resource):
    def list(self, *, limit: int | None = None) -> Paginator[Worker]:
        """Return a lazy iterator over the workspace's workers (``state``: offline, idle, busy).

        Raises (while iterating):
            PermissionDenied: the key lacks ``Workers.read_workers``.
            ControlRoomError: any other failure.
        """
        return self._list("/workers", Worker, limit=limit)

    def get(self, worker_id: str) -> Worker:
        """Return one worker.

        Raises:
            NotFound: no such worker.
            PermissionDenied: the key lacks ``Workers.read_workers``.
            ControlRoomError: any other failure.
        """
        return self._call("GET", f"/workers/{seg(worker_id)}", Worker)

    def rename(self, worker_id: str, name: str) -> Worker:
        """Rename a worker and return it.

        Raises:
            BadRequest: an empty name.
            PermissionDenied: the key lacks ``Workers.write_workers``.
            ControlRoomError: any other failure.
        """
        return self._call(
            "PUT", f"/workers/{seg(worker_id)}", Worker, json={"name": name}
        )

    def delete(self, worker_id: str) -> None:
        """Remove a worker from the workspace.

        Raises:
            NotFound: no such worker.
            PermissionDenied: the key lacks ``Workers.write_workers``.
            AmbiguousResult: the request was sent but no answer came.
            ControlRoomError: any other failure.
        """
        self._send("DELETE", f"/workers/{seg(worker_id)}")

    def create_link_token(self, *, expires_at: datetime) -> LinkToken:
        """Create a workspace link token (its secret ``link_token`` is only in this answer).

        Args:
            expires_at: an aware datetime.

        Raises:
            ValueError: a naive ``expires_at``.
            BadRequest: Control Room refused the date.
            PermissionDenied: the key lacks ``Workers.write_workers``.
            ControlRoomError: any other failure.
        """
        body = {"expires_at": _rfc3339(expires_at)}
        return self._call("POST", "/workers/link-tokens", LinkToken, json=body)


class WorkerGroupsResource(Resource):
    def list(self, *, limit: int | None = None) -> Paginator[WorkerGroup]:
        """Return a lazy iterator over the worker groups.

        Raises (while iterating):
            PermissionDenied: the key lacks ``Workers.read_workers``.
            ControlRoomError: any other failure.
        """
        return self._list("/worker-groups", WorkerGroup, limit=limit)

    def get(self, group_id: str) -> WorkerGroup:
        """Return one worker group.

        Raises:
            NotFound: no such group.
            PermissionDenied: the key lacks ``Workers.read_workers``.
            ControlRoomError: any other failure.
        """
        return self._call("GET", f"/worker-groups/{seg(group_id)}", WorkerGroup)

    def create(self, name: str) -> WorkerGroup:
        """Create a worker group.

        Raises:
            BadRequest: an empty name.
            PermissionDenied: the key lacks ``Workers.write_workers``.
            ControlRoomError: any other failure.
        """
        return self._call("POST", "/worker-groups", WorkerGroup, json={"name": name})

    def rename(self, group_id: str, name: str) -> WorkerGroup:
        """Rename a worker group.

        Raises:
            NotFound: no such group.
            PermissionDenied: the key lacks ``Workers.write_workers``.
            ControlRoomError: any other failure.
        """
        return self._call(
            "PUT", f"/worker-groups/{seg(group_id)}", WorkerGroup, json={"name": name}
        )

    def delete(self, group_id: str) -> None:
        """Delete a worker group.

        Raises:
            NotFound: no such group.
            PermissionDenied: the key lacks ``Workers.write_workers``.
            AmbiguousResult: the request was sent but no answer came.
            ControlRoomError: any other failure.
        """
        self._send("DELETE", f"/worker-groups/{seg(group_id)}")

    def add_worker(self, group_id: str, worker_id: str) -> WorkerGroupMembership:
        """Add a worker to a group; returns the worker's groups now.

        Raises:
            NotFound: no such group or worker.
            PermissionDenied: the key lacks ``Workers.write_workers``.
            ControlRoomError: any other failure.
        """
        return self._call(
            "PUT",
            f"/worker-groups/{seg(group_id)}/workers",
            WorkerGroupMembership,
            json={"worker": {"id": worker_id}},
        )

    def remove_worker(self, group_id: str, worker_id: str) -> WorkerGroupMembership:
        """Remove a worker from a group; returns the worker's groups now.

        Raises:
            NotFound: no such group, worker, or the worker is not in the group.
            PermissionDenied: the key lacks ``Workers.write_workers``.
            ControlRoomError: any other failure.
        """
        return self._call(
            "DELETE",
            f"/worker-groups/{seg(group_id)}/workers/{seg(worker_id)}",
            WorkerGroupMembership,
        )

    def link_tokens(
        self, group_id: str, *, limit: int | None = None
    ) -> Paginator[WorkerGroupLinkToken]:
        """Return a lazy iterator over a group's link tokens (without their secrets).

        Raises (while iterating):
            NotFound: no such group.
            PermissionDenied: the key lacks ``Workers.read_workers``.
            ControlRoomError: any other failure.
        """
        return self._list(
            f"/worker-groups/{seg(group_id)}/link-tokens",
            WorkerGroupLinkToken,
            limit=limit,
        )

    def link_token(self, group_id: str, token_id: str) -> WorkerGroupLinkToken:
        """Return one link token of a group (without its secret).

        Raises:
            NotFound: no such group or token.
            PermissionDenied: the key lacks ``Workers.read_workers``.
            ControlRoomError: any other failure.
        """
        return self._call(
            "GET",
            f"/worker-groups/{seg(group_id)}/link-tokens/{seg(token_id)}",
            WorkerGroupLinkToken,
        )

    def create_link_token(
        self, group_id: str, *, name: str, expires_at: datetime | None
    ) -> WorkerGroupLinkToken:
        """Create a link token for a group; the answer carries the secret (shown once).

        Args:
            expires_at: an aware datetime, or None for a token that never expires.

        Raises:
            ValueError: a naive ``expires_at``.
            BadRequest: an empty name or a bad date.
            NotFound: no such group.
            PermissionDenied: the key lacks ``Workers.write_workers``.
            ControlRoomError: any other failure.
        """
        body = {"name": name, "expires_at": _rfc3339(expires_at)}
        return self._call(
            "POST",
            f"/worker-groups/{seg(group_id)}/link-tokens",
            WorkerGroupLinkToken,
            json=body,
        )

    def update_link_token(
        self, group_id: str, token_id: str, *, name: str, expires_at: datetime | None
    ) -> WorkerGroupLinkToken:
        """Rename a link token or change its expiry.

        Raises:
            ValueError: a naive ``expires_at``.
            NotFound: no such group or token.
            PermissionDenied: the key lacks ``Workers.write_workers``.
            ControlRoomError: any other failure.
        """
        body = {"name": name, "expires_at": _rfc3339(expires_at)}
        return self._call(
            "PUT",
            f"/worker-groups/{seg(group_id)}/link-tokens/{seg(token_id)}",
            WorkerGroupLinkToken,
            json=body,
        )

    def delete_link_token(self, group_id: str, token_id: str) -> None:
        """Revoke a group's link token.

        Raises:
            NotFound: no such group or token.
            PermissionDenied: the key lacks ``Workers.write_workers``.
            AmbiguousResult: the request was sent but no answer came.
            ControlRoomError: any other failure.
        """
        self._send(
            "DELETE", f"/worker-groups/{seg(group_id)}/link-tokens/{seg(token_id)}"
        )
