from __future__ import annotations

from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "dashboard.core"
    label = "core"
    verbose_name = "Workroom core"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from dashboard.core import checks  # noqa: F401 (registers the system checks)
        from dashboard.core.sessions import remember_login_time

        user_logged_in.connect(remember_login_time, dispatch_uid="workroom-login-time")
