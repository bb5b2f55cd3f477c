from __future__ import annotations

from django.apps import AppConfig


class MirrorConfig(AppConfig):
    name = "dashboard.mirror"
    label = "mirror"
    verbose_name = "Mirror"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from dashboard.mirror import signals

        signals.connect()
