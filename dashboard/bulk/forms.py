"""Forms of the bulk pages."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import forms

from dashboard.accounts.models import Team
from dashboard.bulk.models import Action


class StartForm(forms.Form):
    """Start a preview: the action plus either the explorer's filter or ticked ids (`ids`)."""

    action = forms.ChoiceField(choices=Action.choices)
    selection = forms.ChoiceField(
        choices=(("filter", "All matching the filter"), ("ids", "Selected items")),
        widget=forms.HiddenInput,
    )
    filter = forms.CharField(required=False, max_length=2000, widget=forms.HiddenInput)
    # An operation acts in one team: chosen here when the selection spans several.
    team = forms.TypedChoiceField(
        coerce=int, required=False, empty_value=None, label="Team"
    )

    def __init__(self, *args: Any, teams: Sequence[Team] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        team_field = self.fields["team"]
        assert isinstance(team_field, forms.TypedChoiceField)
        team_field.choices = [("", "—")] + [(t.pk, t.name) for t in teams]


class ConfirmForm(forms.Form):
    reason = forms.CharField(
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Why? It is recorded in the audit log with the operation.",
    )
    include_verified = forms.BooleanField(
        required=False, label="Retry the items reviewed as verified too"
    )
