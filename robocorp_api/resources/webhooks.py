"""Webhooks: ``{W}/webhooks`` list/create/get/delete (API.md §3.1, §6)."""

from __future__ import annotations

import builtins
from collections.abc import Sequence

from robocorp_api.models import Webhook
from robocorp_api.resources._base import Resource, seg


class WebhooksResource(Resource):
    def list(self) -> builtins.list[Webhook]:
        """Return every webhook of the workspace (listed webhooks carry no secret).

        Raises:
            PermissionDenied: the key lacks ``Webhooks.read_webhooks``.
            ControlRoomError: any other failure.
        """
        return builtins.list(self._list("/webhooks", Webhook))

    def create(
        self, *, endpoint: str, enabled_events: Sequence[str], process_id: str
    ) -> Webhook:
        """Create a process-scoped webhook and return it, including its signing ``secret``.

        Args:
            endpoint: the URL Control Room will POST events to.
            enabled_events: subset of ``models.WEBHOOK_EVENTS``.
            process_id: the process whose run state changes are sent.

        Raises:
            BadRequest: invalid endpoint or event names.
            PermissionDenied: the key lacks ``Webhooks.write_webhooks``.
            ControlRoomError: any other failure.
        """
        if isinstance(enabled_events, str):
            raise TypeError(
                "enabled_events must be a sequence of event names, not a string"
            )
        body = {
            "endpoint": endpoint,
            "enabled_events": builtins.list(enabled_events),
            "process": {"id": process_id},
        }
        return self._call("POST", "/webhooks", Webhook, json=body)

    def get(self, webhook_id: str) -> Webhook:
        """Return one webhook, including its ``secret``.

        Raises:
            NotFound: no such webhook.
            PermissionDenied: the key lacks ``Webhooks.read_webhooks``.
            ControlRoomError: any other failure.
        """
        return self._call("GET", f"/webhooks/{seg(webhook_id)}", Webhook)

    def delete(self, webhook_id: str) -> None:
        """Delete a webhook.

        Raises:
            NotFound: no such webhook.
            PermissionDenied: the key lacks ``Webhooks.write_webhooks``.
            AmbiguousResult: the request was sent but no answer came.
            ControlRoomError: any other failure.
        """
        self._send("DELETE", f"/webhooks/{seg(webhook_id)}")
