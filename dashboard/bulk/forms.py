"""Forms of the bulk pages."""

from __future__ import annotations

from django import forms

from dashboard.bulk.models import Action


class StartForm(forms.Form):
    """Start a preview: the action plus either the explorer's filter or ticked ids (`ids`)."""

    action = forms.ChoiceField(choices=Action.choices)
    selection = forms.ChoiceField(
        choices=(("filter", "All matching the filter"), ("ids", "Selected items")),
        widget=forms.HiddenInput,
    )
    filter = forms.CharField(required=False, max_length=2000, widget=forms.HiddenInput)


class ConfirmForm(forms.Form):
    reason = forms.CharField(
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Why? It is recorded in the audit log with the operation.",
    )
