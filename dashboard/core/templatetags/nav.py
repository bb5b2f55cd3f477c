"""`{% nav_section as section %}`: which main-menu section the current page belongs to."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()

# First match wins: triage and runs are more specific than their apps' other pages.
SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    # The user menu's pages: no main-menu section.
    ("you", ("accounts-preferences", "alerts-preferences")),
    ("triage", ("workitems-triage",)),
    ("items", ("workitems-",)),
    ("runs", ("processes-run-", "processes-steprun-", "processes-artifact-")),
    ("processes", ("processes-",)),
    ("insights", ("insights-",)),
    ("bulk", ("bulk-",)),
    ("alerts", ("alerts-",)),
    ("policies", ("policies-",)),
    ("fleet", ("fleet-",)),
    # A team's settings pages (members, keys, API tokens, audit) hang off the home page.
    ("home", ("home", "accounts-", "workspaces-", "mirror-", "audit-", "api-token")),
)


def section_for(url_name: str | None) -> str:
    """Return the menu section of a url name ("" when it belongs to none)."""
    if not url_name:
        return ""
    for section, prefixes in SECTIONS:
        if any(url_name == p or url_name.startswith(p) for p in prefixes if p):
            return section
    return ""


@register.simple_tag(takes_context=True)
def nav_section(context: dict[str, Any]) -> str:
    request = context.get("request")
    match = getattr(request, "resolver_match", None)
    return section_for(getattr(match, "url_name", None))
