from __future__ import annotations

from django.apps import AppConfig


class WorkspacesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "dashboard.workspaces"
    label = "workspaces"
