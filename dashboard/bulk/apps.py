from __future__ import annotations

from django.apps import AppConfig


class BulkConfig(AppConfig):
    name = "dashboard.bulk"
    label = "bulk"
    verbose_name = "Bulk operations"
    default_auto_field = "django.db.models.BigAutoField"
