"""`{% bulk_item_operations item %}`: the bulk operations that acted on one work item."""

from __future__ import annotations

from typing import Any

from django import template

from dashboard.bulk.selectors import item_operations

register = template.Library()


@register.inclusion_tag("bulk/_item_operations.html")
def bulk_item_operations(item: Any) -> dict[str, Any]:
    return {"bulk_items": item_operations(item)}
