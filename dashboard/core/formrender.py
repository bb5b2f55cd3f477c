"""A form renderer that writes Django's plain widgets in Python instead of through templates.

Django renders every widget, every option of a select and every empty error list through
its template engine (several includes each): the explorer's filter form spent about as long
on that as the rest of the page. `WidgetRenderer` writes the same HTML, character for
character, for the widget templates Django ships (inputs, selects, checkbox and radio
options, an empty error list) and hands anything else — a widget with its own template, a
label that is not a string, errors to show — to the template engine as before.
`tests/dashboard/test_formrender.py` compares the two on every case the forms use.

A form opts in with `default_renderer = WIDGET_RENDERER` (one instance for the process, as
Django keeps its default renderer: a class there would build a template engine per form the
first time it falls back).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.forms.renderers import DjangoTemplates
from django.utils.html import conditional_escape

_WIDGETS = "django/forms/widgets/"
# Widget templates that are `{% include "django/forms/widgets/input.html" %}` and nothing else.
_INPUTS = frozenset(
    f"{_WIDGETS}{name}.html"
    for name in (
        "input",
        "text",
        "number",
        "email",
        "url",
        "color",
        "search",
        "tel",
        "password",
        "hidden",
        "date",
        "datetime",
        "time",
        "checkbox",
    )
)
_OPTIONS = frozenset(
    f"{_WIDGETS}{name}.html" for name in ("checkbox_option", "radio_option")
)
_SELECT = f"{_WIDGETS}select.html"
_SELECT_OPTION = f"{_WIDGETS}select_option.html"
_ERRORS = "django/forms/errors/list/default.html"


class _Unsupported(Exception):
    """A context this renderer does not write exactly as the template would."""


def _text(value: Any) -> str:
    """`{{ value }}` of a string (anything else is localised by the engine: not ours)."""
    if not isinstance(value, str):
        raise _Unsupported
    return str(conditional_escape(value))


def _formatted(value: Any) -> str:
    """`{{ value|stringformat:'s' }}`."""
    if isinstance(value, tuple):
        raise _Unsupported
    return str(conditional_escape(value if hasattr(value, "__html__") else str(value)))


def _attrs(attrs: Mapping[str, Any]) -> str:
    """django/forms/widgets/attrs.html."""
    parts = []
    for name, value in attrs.items():
        if value is False:
            continue
        if value is True:
            parts.append(f" {_text(name)}")
        else:
            parts.append(f' {_text(name)}="{_formatted(value)}"')
    return "".join(parts)


def _input(widget: Mapping[str, Any]) -> str:
    """django/forms/widgets/input.html."""
    value = widget["value"]
    shown = f' value="{_formatted(value)}"' if value != None else ""  # noqa: E711 (the template's `!= None`)
    return (
        f'<input type="{_text(widget["type"])}" name="{_text(widget["name"])}"'
        f"{shown}{_attrs(widget['attrs'])}>"
    )


def _input_option(widget: Mapping[str, Any]) -> str:
    """django/forms/widgets/input_option.html (a checkbox or radio of a multiple widget)."""
    if not widget.get("wrap_label"):
        return _input(widget)
    target = widget["attrs"].get("id")
    label_for = f' for="{_text(target)}"' if target else ""
    return f"<label{label_for}>{_input(widget)}\n {_text(widget['label'])}</label>"


def _select(widget: Mapping[str, Any]) -> str:
    """django/forms/widgets/select.html with select_option.html for each option."""
    parts = [f'<select name="{_text(widget["name"])}"{_attrs(widget["attrs"])}>']
    for group_name, options, _index in widget["optgroups"]:
        if group_name:
            parts.append(f'\n  <optgroup label="{_text(group_name)}">')
        for option in options:
            if option["template_name"] != _SELECT_OPTION:
                raise _Unsupported
            parts.append(
                f'\n  <option value="{_formatted(option["value"])}"'
                f"{_attrs(option['attrs'])}>{_text(option['label'])}</option>\n"
            )
        if group_name:
            parts.append("\n  </optgroup>")
    parts.append("\n</select>")
    return "".join(parts)


class WidgetRenderer(DjangoTemplates):
    """DjangoTemplates, with Django's own plain widgets written in Python."""

    def render(
        self, template_name: str, context: dict[str, Any], request: Any = None
    ) -> str:
        try:
            if template_name in _INPUTS:
                return _input(context["widget"]).strip()
            if template_name == _SELECT:
                return _select(context["widget"]).strip()
            if template_name in _OPTIONS:
                return _input_option(context["widget"]).strip()
            if template_name == _ERRORS and not context["errors"]:
                return ""
        except (_Unsupported, KeyError):
            pass
        return str(super().render(template_name, context, request))


WIDGET_RENDERER = WidgetRenderer()
