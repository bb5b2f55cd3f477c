"""Small presentation filters shared by every app's templates ({% load workroom %})."""

from __future__ import annotations

from datetime import timedelta

from django import template

register = template.Library()


@register.filter
def duration(value: timedelta | float | int | None) -> str:
    """Return a duration as words, e.g. "15 minutes", "1 hour 5 minutes", "42 seconds"."""
    if value is None or value == "":
        return ""
    seconds = int(
        value.total_seconds() if isinstance(value, timedelta) else float(value)
    )
    hours, rest = divmod(max(seconds, 0), 3600)
    minutes, secs = divmod(rest, 60)
    parts = []
    if hours:
        parts.append(f"{hours} hour{'s' if hours != 1 else ''}")
    if minutes:
        parts.append(f"{minutes} minute{'s' if minutes != 1 else ''}")
    if secs and not hours:
        parts.append(f"{secs} second{'s' if secs != 1 else ''}")
    return " ".join(parts) or "0 seconds"
