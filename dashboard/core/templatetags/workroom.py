"""Small presentation tags shared by every app's templates ({% load workroom %}); the
formats themselves are in dashboard/core/timefmt.py."""

from __future__ import annotations

from datetime import datetime, timedelta

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

from dashboard.core.timefmt import absolute, human_duration, relative

register = template.Library()


@register.filter
def duration(value: timedelta | float | int | str | None, style: str = "") -> str:
    """A duration the way people say it: "42 s", "4 h 46 min"; `|duration:"long"` for a
    sentence: "15 minutes" (see timefmt.human_duration)."""
    if value is None or value == "":
        return ""
    amount = value if isinstance(value, timedelta) else float(value)
    return human_duration(amount, long=style == "long")


@register.simple_tag
def when(
    value: datetime | None, style: str = "relative", empty: str = "—"
) -> SafeString | str:
    """A <time> element: "5 min ago" with the exact time and zone on hover (style "relative"),
    or the exact time with the relative one on hover ("absolute", "minute", "date", "time");
    `empty` when there is no time."""
    if not isinstance(value, datetime):
        return empty
    ago = relative(value)
    exact = absolute(value, "absolute" if style == "relative" else style)
    shown, hover = (ago, exact) if style == "relative" else (exact, ago)
    return format_html(
        '<time datetime="{}" title="{}">{}</time>', value.isoformat(), hover, shown
    )


@register.filter
def state_label(value: str | None) -> str:
    """A Control Room state as words: "in_progress" → "in progress"."""
    return (value or "").replace("_", " ")
