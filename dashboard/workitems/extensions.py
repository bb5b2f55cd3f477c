"""Where the surfaces above this floor add to the work-item pages without this floor
importing them (floors: imports only go down). A surface registers in its AppConfig.ready().
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.template.loader import render_to_string
from django.utils.safestring import SafeString

from dashboard.mirror.models import WorkItem


@dataclass(frozen=True)
class ItemSection:
    """A block of an item's history page: a template and what it needs for one item."""

    name: str
    template: str
    context: Callable[[WorkItem], dict[str, Any]]


_HISTORY_SECTIONS: dict[str, ItemSection] = {}


def add_history_section(section: ItemSection) -> None:
    """Show `section` under every item's history (registering a name twice replaces it)."""
    _HISTORY_SECTIONS[section.name] = section


def history_sections(item: WorkItem) -> list[SafeString]:
    """Return the registered history sections rendered for one item."""
    return [
        render_to_string(section.template, section.context(item))
        for section in _HISTORY_SECTIONS.values()
    ]


# Short lines shown under an explorer row ("policy X will retry at 10:35 (attempt 2 of 3)"):
# name → a function of the page's items returning {item pk: note}.
_ROW_NOTES: dict[str, Callable[[list[WorkItem]], dict[int, str]]] = {}


def add_row_notes(name: str, notes: Callable[[list[WorkItem]], dict[int, str]]) -> None:
    """Add notes to explorer rows (registering a name twice replaces it)."""
    _ROW_NOTES[name] = notes


def row_notes(items: list[WorkItem]) -> dict[int, list[str]]:
    """Return every registered note of the page's items, by item pk."""
    found: dict[int, list[str]] = {}
    for notes in _ROW_NOTES.values():
        for pk, note in notes(items).items():
            found.setdefault(pk, []).append(note)
    return found
