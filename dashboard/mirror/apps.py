from __future__ import annotations

from django.apps import AppConfig


class MirrorConfig(AppConfig):
    name = "dashboard.mirror"
    label = "mirror"
    verbose_name = "Mirror"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from dashboard.mirror import signals
        from dashboard.mirror.models import SyncRun
        from dashboard.mirror.services import runnumbers

        signals.connect()
        signals.sync_finished.connect(
            runnumbers.number_runs_after_sync,
            sender=SyncRun,
            dispatch_uid="mirror-number-new-runs",
        )
