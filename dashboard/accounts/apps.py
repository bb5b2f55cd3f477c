from __future__ import annotations

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "dashboard.accounts"
    label = "accounts"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from dashboard.accounts.middleware import remember_zone

        user_logged_in.connect(remember_zone, dispatch_uid="workroom-time-zone")
