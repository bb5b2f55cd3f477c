"""Forms of the work-item pages: the explorer's GET filter, saved views, payload edit,
file upload and the admin's process schema."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date
from typing import Any

from django import forms
from django.http import QueryDict
from django.utils.datastructures import MultiValueDict

from dashboard.core.formrender import WIDGET_RENDERER
from robocorp_api.models import EXCEPTION_TYPES, WORK_ITEM_STATES

SORTS = (
    ("-created", "Newest first"),
    ("created", "Oldest first"),
    ("-updated", "Recently changed first"),
    ("updated", "Least recently changed first"),
)
PAGE_SIZES = (25, 50, 100, 200)
DEFAULT_PAGE_SIZE = 50

# The filter's own fields; paging parameters (after/before) are not part of a saved view.
FILTER_FIELDS = (
    "workspace",
    "process",
    "run",
    "state",
    "exception_type",
    "exception_code",
    "signature",
    "message",
    "payload",
    "created_from",
    "created_to",
    "updated_from",
    "updated_to",
    "owner",
    "review",
    "snoozed",
    "sort",
    "page_size",
)
OWNER_CHOICES = (
    ("", "Anyone or nobody"),
    ("me", "My items"),
    ("any", "Owned by someone"),
    ("none", "Nobody"),
)
REVIEW_CHOICES = (
    ("", "Any review status"),
    ("none", "Not reviewed"),
    ("in_review", "In review"),
    ("verified", "Verified"),
    ("retried", "Retried"),
)
SNOOZE_CHOICES = (
    ("", "Hide snoozed"),
    ("include", "Show snoozed too"),
    ("only", "Snoozed only"),
)


class WorkItemFilterForm(forms.Form):
    """The explorer's filter, read from the query string (bookmarkable, shareable)."""

    # Its widgets written in Python: through templates they were ~a quarter of the page's time.
    default_renderer = WIDGET_RENDERER

    workspace = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    process = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    run = forms.CharField(required=False, max_length=100, label="Run id")
    state = forms.MultipleChoiceField(
        required=False,
        choices=[(s, s.replace("_", " ")) for s in WORK_ITEM_STATES],
        widget=forms.CheckboxSelectMultiple,
    )
    exception_type = forms.ChoiceField(
        required=False,
        choices=[("", "Any type"), *[(t, t.title()) for t in EXCEPTION_TYPES]],
    )
    exception_code = forms.CharField(required=False, max_length=200, label="Code")
    signature = forms.CharField(
        required=False, max_length=255, widget=forms.HiddenInput
    )
    message = forms.CharField(required=False, max_length=200, label="Message text")
    payload = forms.CharField(required=False, max_length=200, label="Payload text")
    created_from = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date", "aria-label": "Created from"}),
    )
    created_to = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date", "aria-label": "Created to"}),
    )
    updated_from = forms.DateField(
        required=False,
        widget=forms.DateInput(
            attrs={"type": "date", "aria-label": "State changed from"}
        ),
    )
    updated_to = forms.DateField(
        required=False,
        widget=forms.DateInput(
            attrs={"type": "date", "aria-label": "State changed to"}
        ),
    )
    owner = forms.ChoiceField(required=False, choices=OWNER_CHOICES)
    review = forms.ChoiceField(
        required=False, choices=REVIEW_CHOICES, label="Review status"
    )
    snoozed = forms.ChoiceField(required=False, choices=SNOOZE_CHOICES, label="Snoozed")
    sort = forms.ChoiceField(required=False, choices=SORTS)
    page_size = forms.TypedChoiceField(
        required=False,
        coerce=int,
        choices=[(n, str(n)) for n in PAGE_SIZES],
        empty_value=DEFAULT_PAGE_SIZE,  # type: ignore[arg-type]
    )
    after = forms.CharField(required=False, max_length=200, widget=forms.HiddenInput)
    before = forms.CharField(required=False, max_length=200, widget=forms.HiddenInput)

    def __init__(
        self,
        data: QueryDict | None,
        *,
        workspaces: list[tuple[int, str]],
        processes: list[tuple[int, str]],
    ) -> None:
        if data is not None and not data.get("page_size"):
            # Show the page size and sort in use even when the URL does not name them.
            data = data.copy()
            data["page_size"] = str(DEFAULT_PAGE_SIZE)
            data.setdefault("sort", "-created")
        super().__init__(data)
        self.fields["workspace"].choices = [("", "All workspaces"), *workspaces]  # type: ignore[attr-defined]
        self.fields["process"].choices = [("", "All processes"), *processes]  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for start, end in (
            ("created_from", "created_to"),
            ("updated_from", "updated_to"),
        ):
            a: date | None = data.get(start)
            b: date | None = data.get(end)
            if a and b and a > b:
                self.add_error(end, "The end date is before the start date.")
        return data

    def filter_query(self) -> str:
        """Return the query string of the filter alone (no paging), for links and saved views."""
        data = self.data if isinstance(self.data, MultiValueDict) else MultiValueDict()
        return only_fields(data)


def only_fields(
    data: MultiValueDict[str, Any], names: Iterable[str] = FILTER_FIELDS
) -> str:
    """Return the query string of `data` keeping only the non-empty values of `names`: the
    one way a filter's query string is cleaned (links, saved views, bulk selections)."""
    query = QueryDict(mutable=True)
    for name in names:
        values = [str(v) for v in data.getlist(name) if v not in (None, "")]
        if values:
            query.setlist(name, values)
    return query.urlencode()


class SavedViewForm(forms.Form):
    name = forms.CharField(max_length=100)
    query = forms.CharField(max_length=2000, required=False, widget=forms.HiddenInput)
    team = forms.TypedChoiceField(coerce=int)

    def __init__(self, *args: Any, teams: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["team"].choices = teams  # type: ignore[attr-defined]


MAX_PAYLOAD_CHARS = 1_000_000


class PayloadForm(forms.Form):
    payload = forms.CharField(
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 16, "spellcheck": "false"}),
        max_length=MAX_PAYLOAD_CHARS,
    )


class UploadForm(forms.Form):
    file = forms.FileField()


class SchemaForm(forms.Form):
    schema = forms.CharField(
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 18, "spellcheck": "false"}),
        help_text="A JSON Schema (draft 2020-12 unless $schema says otherwise). Empty removes it.",
    )

    def clean_schema(self) -> dict[str, Any] | None:
        from dashboard.workitems.schemas import check_schema, parse_payload

        text: str = self.cleaned_data.get("schema") or ""
        if not text.strip():
            return None
        value, error = parse_payload(text)
        if error is not None:
            raise forms.ValidationError(str(error))
        problems = check_schema(value)
        if problems:
            raise forms.ValidationError(problems)
        return (
            value if isinstance(value, dict) else {"not": {}} if value is False else {}
        )


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False)
