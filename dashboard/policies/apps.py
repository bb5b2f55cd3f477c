from __future__ import annotations

from django.apps import AppConfig


class PoliciesConfig(AppConfig):
    name = "dashboard.policies"
    label = "policies"
    verbose_name = "Retry policies"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from dashboard.policies import hooks

        hooks.register()
