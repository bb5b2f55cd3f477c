"""Register Workroom's webhook receiver in Control Room for every process of a workspace."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import reverse

from dashboard.mirror.management.workspace_arg import workspace_from_argument
from dashboard.mirror.services import webhooks


class Command(BaseCommand):
    help = (
        "Register Workroom's webhook receiver in Control Room for every process of a "
        "workspace that has none yet (idempotent), so changed runs are synced at once."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "workspace", help="Workroom id or exact name of the workspace"
        )
        parser.add_argument(
            "--site-url",
            required=True,
            help="Workroom's address as Control Room reaches it, e.g. https://workroom.example",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        workspace = workspace_from_argument(options["workspace"])
        path = reverse(
            "mirror-webhook-receive", kwargs={"workspace_uid": workspace.uid}
        )
        endpoint = options["site_url"].rstrip("/") + path
        try:
            created = webhooks.webhooks_register(workspace, None, endpoint=endpoint)
        except webhooks.WebhookError as err:
            raise CommandError(err.message) from None
        self.stdout.write(
            f"Registered {len(created)} webhook(s) for {workspace.name}, delivering to "
            f"{endpoint}."
            if created
            else f"Every process of {workspace.name} already delivers to {endpoint}."
        )
