"""Template helpers of the work-item pages ({% load workitems %})."""

from __future__ import annotations

import json
from typing import Any

from django import template
from django.urls import NoReverseMatch, reverse
from django.utils.html import escape, format_html, format_html_join
from django.utils.safestring import SafeString

from dashboard.core.templatetags.workroom import state_label as core_state_label
from dashboard.workitems import selectors

register = template.Library()

MAX_CHILDREN = 500
MAX_DEPTH = 30
OPEN_DEPTH = 2


@register.simple_tag
def safe_url(name: str, **kwargs: Any) -> str:
    """Return the URL of `name`, or "" when it does not resolve (an app not installed yet)."""
    try:
        return reverse(
            name, kwargs={k: v for k, v in kwargs.items() if v not in (None, "")}
        )
    except NoReverseMatch:
        return ""


@register.simple_tag
def json_tree(value: Any) -> SafeString:
    """Render JSON as nested <details> (no JavaScript), the first levels open."""
    return _node(value, 0)


def _scalar(value: Any) -> SafeString:
    kind = (
        "null"
        if value is None
        else "bool"
        if isinstance(value, bool)
        else "num"
        if isinstance(value, int | float)
        else "str"
    )
    return format_html(
        '<span class="json-{}">{}</span>', kind, json.dumps(value, ensure_ascii=False)
    )


def _node(value: Any, depth: int) -> SafeString:
    if not isinstance(value, dict | list):
        return _scalar(value)
    if depth >= MAX_DEPTH:
        return format_html(
            '<span class="json-str">{}</span>', "…nested too deeply to show"
        )
    if isinstance(value, dict):
        pairs = list(value.items())
        opener, closer, size = (
            "{",
            "}",
            f"{len(pairs)} key{'s' if len(pairs) != 1 else ''}",
        )
    else:
        pairs = list(enumerate(value))
        opener, closer, size = (
            "[",
            "]",
            f"{len(pairs)} item{'s' if len(pairs) != 1 else ''}",
        )
    if not pairs:
        return escape(opener + closer)
    parts = []
    for key, child in pairs[:MAX_CHILDREN]:
        label = format_html(
            '<span class="json-key">{}</span>: ',
            json.dumps(key) if isinstance(key, str) else key,
        )
        parts.append(format_html("<li>{}{}</li>", label, _node(child, depth + 1)))
    if len(pairs) > MAX_CHILDREN:
        parts.append(
            format_html('<li class="muted">… {} more</li>', len(pairs) - MAX_CHILDREN)
        )
    template = (
        (
            '<details class="json-node" open>'
            if depth < OPEN_DEPTH
            else '<details class="json-node">'
        )
        + '<summary>{} <span class="muted">{}</span></summary><ul class="json-children">{}</ul>{}</details>'
    )
    return format_html(
        template,
        opener,
        size,
        format_html_join("", "{}", ((part,) for part in parts)),
        closer,
    )


@register.filter
def filesize(value: Any) -> str:
    """Return a byte count as B / KB / MB / GB (binary multiples)."""
    try:
        size = float(value)
    except (TypeError, ValueError):
        return ""
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return ""


@register.filter
def short_id(value: str) -> str:
    """Return a long id as its head and tail ("f728b4fa…000c"): sibling ids often share a prefix."""
    text = str(value or "")
    return text if len(text) <= 14 else f"{text[:8]}…{text[-4:]}"


@register.simple_tag
def failure_advice(exception_type: str, exception_code: str) -> str:
    """{% failure_advice item.exception_type item.exception_code %}: what to do about it."""
    return selectors.failure_advice(exception_type or "", exception_code or "")


@register.filter
def state_label(value: str) -> str:
    return core_state_label(value)


@register.simple_tag(takes_context=True)
def query_with(context: Any, **changes: Any) -> str:
    """Return the current query string with some parameters replaced or removed ("" / None)."""
    query = context["request"].GET.copy()
    for key in ("after", "before"):
        query.pop(key, None)
    for key, value in changes.items():
        if value in (None, ""):
            query.pop(key, None)
        else:
            query[key] = value
    return query.urlencode()


@register.filter
def review_label(value: str) -> str:
    """Return the label of a review status ("in_review" → "In review")."""
    from dashboard.workitems.models import ReviewStatus

    return dict(ReviewStatus.choices).get(value, value)


@register.simple_tag(takes_context=True)
def unread_notices(context: Any) -> int:
    """Return how many mention notices the signed-in user has not read."""
    from dashboard.workitems.models import Notification

    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return 0
    return Notification.objects.filter(user=user, read_at__isnull=True).count()


@register.filter
def json_text(value: Any) -> str:
    """Return a JSON value as compact JSON text (escaped by the template like any text)."""
    import json

    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= 2000 else text[:2000] + "…"
