from __future__ import annotations

from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "dashboard.api"
    label = "api"
    verbose_name = "JSON API"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from dashboard.accounts.extensions import hide_members
        from dashboard.api import receivers  # noqa: F401  (connects the signal receivers)

        # Token principals are listed on the tokens page, not among the members.
        hide_members("api-tokens", lambda qs: qs.filter(user__api_token__isnull=True))
