"""Links from audit events to the pages of the objects they name.

The audit app sits below every other app, so it never imports them: objects are found by their
model label (`object_type`) through the app registry, and pages by url name. An app that is not
installed, or an object that no longer exists, simply gives no link.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.urls import NoReverseMatch, reverse

from dashboard.audit.models import AuditEvent

ArgsOf = Callable[[AuditEvent], list[Any]]


def _pk(event: AuditEvent) -> list[Any]:
    return [int(event.object_id)]


def _run(event: AuditEvent) -> list[Any]:
    return [int(event.data["workspace_id"]), str(event.data["run_id"])]


# object_type → (url name, the url's arguments from the event).
PAGES: dict[str, tuple[str, ArgsOf]] = {
    "bulk.bulkoperation": ("bulk-detail", _pk),
    "workspaces.workspace": ("workspaces-detail", _pk),
    "mirror.workitem": ("workitems-item-detail", _pk),
    "mirror.processrun": ("processes-run-detail", _run),
}


@dataclass(frozen=True)
class LinkedEvent:
    event: AuditEvent
    url: str


def object_url(event: AuditEvent) -> str:
    """Return the page of the event's object by its type alone ("" when it has none)."""
    page = PAGES.get(event.object_type)
    if page is None or not event.object_id:
        return ""
    name, args_of = page
    try:
        return reverse(name, args=args_of(event))
    except (KeyError, TypeError, ValueError, NoReverseMatch):
        return ""


def _existing(events: Iterable[AuditEvent]) -> set[tuple[str, str]]:
    """Return the (object_type, object_id) pairs that still exist: one query per type."""
    wanted: dict[str, set[int]] = defaultdict(set)
    for event in events:
        if event.object_type in PAGES and event.object_id.isdigit():
            wanted[event.object_type].add(int(event.object_id))
    found: set[tuple[str, str]] = set()
    for label, ids in wanted.items():
        try:
            model = apps.get_model(label)
        except (LookupError, ValueError):
            continue
        pks = model._default_manager.filter(pk__in=ids).values_list("pk", flat=True)
        found.update((label, str(pk)) for pk in pks)
    return found


def with_links(events: Iterable[AuditEvent]) -> list[LinkedEvent]:
    """Pair each event with the page of its object, when that object still has one."""
    rows = list(events)
    existing = _existing(rows)
    return [
        LinkedEvent(
            event,
            object_url(event)
            if (event.object_type, event.object_id) in existing
            else "",
        )
        for event in rows
    ]
