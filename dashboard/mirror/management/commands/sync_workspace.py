"""Run one sync of a workspace in this process (no worker needed) and print what it did."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dashboard.mirror.models import SyncRun
from dashboard.mirror.services.syncruns import sync_request, sync_run_execute
from dashboard.workspaces.models import Workspace


class Command(BaseCommand):
    help = "Sync a workspace's mirror now, in this process. Uses the same lease as the workers."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "workspace_id", type=int, help="Workroom id of the workspace"
        )
        parser.add_argument(
            "--run", default="", help="sync only this Control Room process run id"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        workspace = Workspace.objects.filter(pk=options["workspace_id"]).first()
        if workspace is None:
            raise CommandError(f"No workspace with id {options['workspace_id']}.")
        sync_run = sync_request(
            workspace=workspace,
            trigger=SyncRun.Trigger.MANUAL,
            run_external_id=options["run"],
        )
        sync_run_execute(sync_run_id=sync_run.pk)
        sync_run.refresh_from_db()
        duration = sync_run.duration.total_seconds() if sync_run.duration else 0.0
        self.stdout.write(
            f"Sync #{sync_run.pk} {sync_run.status} in {duration:.1f} s: {sync_run.requests_made} requests, "
            f"{sync_run.rows_created} new, {sync_run.rows_updated} updated, {sync_run.rows_gone} gone rows"
            + (f"; {sync_run.phase}" if sync_run.phase else "")
        )
        if sync_run.status != SyncRun.Status.SUCCEEDED:
            raise CommandError(sync_run.error or f"The sync ended {sync_run.status}.")
