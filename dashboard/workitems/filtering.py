"""Reading the work-item filter from a query string, the same way on every surface (the
explorer, its CSV export, triage, bulk "all matching"): a filter with an invalid field is
refused with one clear message and matches nothing; it is never dropped or widened.

Only paging and sorting fall back to their defaults when invalid: they never change which
items match.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.http import QueryDict

from dashboard.lib.errors import WorkroomError
from dashboard.mirror.models import WorkItem
from dashboard.workitems.forms import FILTER_FIELDS, WorkItemFilterForm, only_fields
from dashboard.workitems.selectors import Scope, filtered_items

PAGING_FIELDS = ("sort", "page_size", "after", "before")
# The fields that decide which items match (a bulk selection keeps only these).
SET_FIELDS = tuple(f for f in FILTER_FIELDS if f not in PAGING_FIELDS)


class FilterError(WorkroomError):
    """The filter is not valid; `message` names each bad field and why."""


@dataclass(frozen=True)
class ItemFilter:
    form: WorkItemFilterForm
    filters: dict[str, Any]  # the cleaned filter; empty when `error`
    error: str = ""


def filter_form(scope: Scope, data: QueryDict) -> WorkItemFilterForm:
    """Return the filter form bound to `data`, with the actor's workspaces and processes."""
    ws_names = [(w.pk, f"{w.team.name} / {w.name}") for w in scope.workspaces.values()]
    many = len(scope.workspaces) > 1
    processes = [
        (p.pk, p.name + (f" ({scope.workspaces[p.workspace_id].name})" if many else ""))
        for p in scope.processes()
    ]
    return WorkItemFilterForm(data, workspaces=ws_names, processes=processes)


def read_filter(scope: Scope, data: QueryDict) -> ItemFilter:
    """Return the filter of a query string: cleaned, or refused with a message."""
    form = filter_form(scope, data)
    if form.is_valid():
        return ItemFilter(form, form.cleaned_data)
    if all(name in PAGING_FIELDS for name in form.errors):
        defaults = data.copy()
        for name in form.errors:
            defaults.pop(name, None)
        form = filter_form(scope, defaults)
        if form.is_valid():
            return ItemFilter(form, form.cleaned_data)
    return ItemFilter(form, {}, invalid_filter_message(form))


def invalid_filter_message(form: WorkItemFilterForm) -> str:
    problems = "; ".join(
        f"{form[name].label if name in form.fields else 'filter'}: "
        + " ".join(str(e) for e in errors)
        for name, errors in form.errors.items()
    )
    return f"The filter is not valid ({problems}). Fix it to see the matching items."


def matching_items(scope: Scope, query: str) -> QuerySet[WorkItem]:
    """Return the items in scope matching a filter query string.

    Raises:
        FilterError: the filter is not valid (it is never widened to "all").
    """
    item_filter = read_filter(scope, QueryDict(query or ""))
    if item_filter.error:
        raise FilterError(item_filter.error)
    return filtered_items(scope, item_filter.filters)


def filter_only(query: str) -> str:
    """Return the query string of the fields that decide which items match (no paging or
    sorting): what identifies the set."""
    return only_fields(QueryDict(query or ""), SET_FIELDS)
