"""Compare a workspace's mirror with Control Room and print the drift; exit 1 on drift."""

from __future__ import annotations

import json
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dashboard.lib.secretbox import SecretUnavailable
from dashboard.mirror.management.workspace_arg import workspace_from_argument
from dashboard.mirror.services.check import DriftReport, mirror_check, persistent_drift
from dashboard.workspaces.models import Workspace
from dashboard.workspaces.services import build_client
from robocorp_api.errors import ControlRoomError


class Command(BaseCommand):
    help = (
        "Compare every work item and run of a workspace's mirror with Control Room and "
        "print the drift by state. Exits 1 when they differ."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "workspace", help="Workroom id or exact name of the workspace"
        )
        parser.add_argument(
            "--again-after",
            type=float,
            default=0,
            metavar="SECONDS",
            help="check again after SECONDS and count only what differed both times "
            "(on a busy workspace: 60, the convergence target)",
        )
        parser.add_argument(
            "--json", action="store_true", help="print the report as JSON"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        workspace = workspace_from_argument(options["workspace"])
        wait = options["again_after"]
        if wait < 0:
            raise CommandError("--again-after must be 0 or more seconds.")
        report = self._check(workspace)
        if wait:
            time.sleep(wait)
            report = persistent_drift(report, self._check(workspace))
        if options["json"]:
            self.stdout.write(json.dumps(report.as_json(), indent=2))
        else:
            self.stdout.write(f"Workspace {workspace.name} (id {workspace.pk}):")
            for line in report.lines():
                self.stdout.write(line)
        if report.has_drift:
            raise CommandError(
                f"The mirror differs from Control Room: {report.item_drift} work "
                f"items, {report.run_drift} runs.",
                returncode=1,
            )

    def _check(self, workspace: Workspace) -> DriftReport:
        try:
            with build_client(workspace) as client:
                return mirror_check(workspace, client)
        except SecretUnavailable:
            raise CommandError(
                "The workspace's stored API key cannot be decrypted."
            ) from None
        except ControlRoomError as err:
            raise CommandError(f"Control Room: {err}") from None
