from __future__ import annotations

from django.apps import AppConfig


class WorkItemsConfig(AppConfig):
    """The action core and the explorer, triage and item pages (ARCHITECTURE.md floor 5).

    The app was called `operations`; its label stays "operations" so the applied migrations,
    the table names (operations_*) and every existing database keep working unchanged: the
    rename needs no data migration.
    """

    name = "dashboard.workitems"
    label = "operations"
    verbose_name = "Work items"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # accounts sits below: it announces a member's removal, and the items they owned
        # in that team lose their owner here.
        from dashboard.accounts.signals import team_event
        from dashboard.workitems.receivers import member_removed

        team_event.connect(member_removed, dispatch_uid="workitems-member-removed")

        # The mirror sits below: after each sync, triage's failure-group rollup of the
        # workspace is recomputed (workitems.rollup).
        from dashboard.mirror.models import SyncRun
        from dashboard.mirror.signals import sync_finished
        from dashboard.workitems.rollup import on_sync_finished

        sync_finished.connect(
            on_sync_finished, sender=SyncRun, dispatch_uid="workitems-failure-rollup"
        )
