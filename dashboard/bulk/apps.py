from __future__ import annotations

from django.apps import AppConfig


class BulkConfig(AppConfig):
    name = "dashboard.bulk"
    label = "bulk"
    verbose_name = "Bulk operations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The item page lives on a lower floor: it shows bulk history through this hook.
        from dashboard.bulk.selectors import item_operations
        from dashboard.workitems.extensions import ItemSection, add_history_section

        add_history_section(
            ItemSection(
                "bulk",
                "bulk/_item_operations.html",
                lambda item: {"bulk_items": item_operations(item)},
            )
        )
