"""core.formrender.WidgetRenderer writes exactly what Django's widget templates write."""

from __future__ import annotations

from typing import Any

import pytest
from django import forms
from django.forms.renderers import DjangoTemplates
from django.http import QueryDict
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy

from dashboard.core.formrender import WidgetRenderer
from dashboard.workitems.forms import WorkItemFilterForm

NASTY = '<b>"Tom & Jerry\'s"</b>'


class _Everything(forms.Form):
    """One field of each widget the renderer writes, with values that need escaping."""

    choice = forms.ChoiceField(
        required=False,
        choices=[
            ("", "Any"),
            (NASTY, NASTY),
            ("safe", mark_safe("<i>already safe</i>")),
            ("lazy", gettext_lazy("Lazy label")),
            (NASTY, [("1", "one"), ("2", NASTY)]),
        ],
    )
    number = forms.TypedChoiceField(
        required=False, coerce=int, choices=[(25, "25"), (50, "50")]
    )
    many = forms.MultipleChoiceField(
        required=False,
        choices=[("a", "A & a"), (NASTY, NASTY), ("c", "C")],
        widget=forms.CheckboxSelectMultiple(attrs={"class": "boxes"}),
    )
    radio = forms.ChoiceField(
        required=False, choices=[("x", "X"), ("y", NASTY)], widget=forms.RadioSelect
    )
    text = forms.CharField(
        required=False,
        max_length=10,
        widget=forms.TextInput(
            attrs={"placeholder": NASTY, "data-zero": 0, "autofocus": True}
        ),
        help_text="Some help",
    )
    day = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date", "aria-label": "Day from"}),
    )
    secret = forms.CharField(
        required=False, widget=forms.HiddenInput(attrs={"disabled": False})
    )
    needed = forms.CharField(widget=forms.EmailInput)
    flag = forms.BooleanField(required=False)
    notes = forms.CharField(required=False, widget=forms.Textarea)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("text") == "boom":
            raise forms.ValidationError(NASTY)
        return data


def _everything(data: dict[str, Any] | None, renderer: Any) -> forms.Form:
    query = None
    if data is not None:
        query = QueryDict(mutable=True)
        for key, value in data.items():
            query.setlist(key, value if isinstance(value, list) else [value])
    form = _Everything(query, renderer=renderer)
    form.is_valid() if query is not None else None
    return form


def _filter_form(data: dict[str, Any] | None, renderer: Any) -> forms.Form:
    query = None
    if data is not None:
        query = QueryDict(mutable=True)
        for key, value in data.items():
            query.setlist(key, value if isinstance(value, list) else [value])
    form = WorkItemFilterForm(
        query,
        workspaces=[(1, "Team / WS <one>"), (2, NASTY)],
        processes=[(3, "Invoices (WS <one>)"), (4, "Orders & more")],
    )
    form.renderer = renderer
    if query is not None:
        form.is_valid()
    return form


def _pieces(form: forms.Form) -> list[str]:
    """Everything a template can ask a form to render."""
    out = [str(form.non_field_errors())]
    for bound in form:
        out += [str(bound), str(bound.errors), bound.label_tag()]
        if isinstance(
            bound.field.widget, forms.RadioSelect | forms.CheckboxSelectMultiple
        ):
            for sub in bound:
                out += [str(sub.tag()), str(sub.tag(wrap_label=True)), str(sub)]
    return out


CASES = [
    None,
    {},
    {
        "choice": NASTY,
        "number": "50",
        "many": ["a", NASTY],
        "radio": "y",
        "text": NASTY[:10],
        "day": "2026-01-02",
        "secret": NASTY,
        "needed": "a@b.c",
        "flag": "on",
        "notes": NASTY,
    },
    {"choice": "2", "many": "c", "text": "boom", "needed": "a@b.c"},
    {"choice": "nope", "number": "7", "day": "not a day", "text": "x" * 11},
]


@pytest.mark.parametrize("data", CASES)
def test_every_widget_is_written_as_the_templates_write_it(data):
    expected = _pieces(_everything(data, DjangoTemplates()))
    assert _pieces(_everything(data, WidgetRenderer())) == expected
    assert any("&lt;b&gt;" in piece for piece in expected) or data is None


@pytest.mark.parametrize(
    "data",
    [
        None,
        {},
        {
            "workspace": "2",
            "process": "4",
            "state": ["failed", "new"],
            "exception_type": "business",
            "owner": "me",
            "review": "verified",
            "snoozed": "include",
            "sort": "-updated",
            "page_size": "200",
            "created_from": "2026-01-01",
            "created_to": "2026-02-01",
            "signature": NASTY,
            "message": NASTY,
            "payload": "INV-1",
        },
        {
            "workspace": "99",
            "state": "bogus",
            "created_from": "2026-02-01",
            "created_to": "2026-01-01",
            "page_size": "3",
        },
    ],
)
def test_the_explorer_filter_form_is_written_as_the_templates_write_it(data):
    expected = _pieces(_filter_form(data, DjangoTemplates()))
    assert _pieces(_filter_form(data, WidgetRenderer())) == expected


def test_the_explorer_filter_forms_share_one_python_renderer():
    first, second = (
        WorkItemFilterForm(None, workspaces=[], processes=[]).renderer for _ in range(2)
    )
    assert isinstance(first, WidgetRenderer)
    assert first is second  # its template engine (for what it hands on) is built once
