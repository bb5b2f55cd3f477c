"""manage.py rebuild_insights [WORKSPACE_ID ...]: recompute the insights rollups from the mirror."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dashboard.insights.rollups import rebuild_workspace
from dashboard.workspaces.models import Workspace


class Command(BaseCommand):
    help = (
        "Recompute the insights rollups of the given workspaces (all when none given)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("workspace", nargs="*", type=int, help="workspace id")

    def handle(self, *args: Any, **options: Any) -> None:
        ids = options["workspace"] or list(
            Workspace.objects.order_by("id").values_list("id", flat=True)
        )
        missing = set(ids) - set(
            Workspace.objects.filter(pk__in=ids).values_list("id", flat=True)
        )
        if missing:
            raise CommandError(
                f"No workspace with id {', '.join(map(str, sorted(missing)))}."
            )
        for workspace_id in ids:
            result = rebuild_workspace(workspace_id)
            if not result.updated:
                raise CommandError(
                    f"Workspace {workspace_id}: another update is running; try again."
                )
            self.stdout.write(
                f"workspace {workspace_id}: {result.item_hours} hours of done items, "
                f"{result.failure_hours} of failures, {result.run_hours} of runs"
            )
