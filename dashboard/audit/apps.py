from __future__ import annotations

from django.apps import AppConfig


class AuditConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "dashboard.audit"
    label = "audit"

    def ready(self) -> None:
        from dashboard.accounts.signals import team_event
        from dashboard.audit.receivers import record_team_event

        team_event.connect(record_team_event, dispatch_uid="audit-record-team-event")
