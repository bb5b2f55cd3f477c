"""Number formats of the insights pages."""

from __future__ import annotations

from decimal import Decimal

from django import template

register = template.Library()


@register.filter
def pct(value: float | None) -> str:
    """A share 0..1 as "12.3%", or "—" when there is nothing to divide."""
    return "—" if value is None else f"{value * 100:.1f}%"


@register.filter
def money(value: Decimal | int | str | None) -> str:
    """An amount with two decimals, or "—" when there is none."""
    if value is None or value == "":
        return "—"
    return f"{Decimal(value):,.2f}"


@register.filter
def get(mapping: dict[str, object], key: str) -> object:
    return mapping.get(key)
