from __future__ import annotations

from django.apps import AppConfig


class InsightsConfig(AppConfig):
    name = "dashboard.insights"
    label = "insights"
    verbose_name = "Insights"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The mirror lives on a lower floor: it announces finished syncs through its signal.
        from dashboard.insights import receivers

        receivers.connect()
