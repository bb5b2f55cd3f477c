from __future__ import annotations

from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "dashboard.alerts"
    label = "alerts"
    verbose_name = "Alerts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The mirror lives on a lower floor: it announces finished syncs through its signal.
        from dashboard.alerts import receivers

        receivers.connect()
