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
    # Retry with patch only: the patch and its kind.
    patch_kind = forms.ChoiceField(
        required=False,
        choices=(
            ("merge", "JSON merge patch (RFC 7396)"),
            ("json_patch", "JSON Patch (RFC 6902)"),
        ),
        label="Patch kind",
    )
    patch = forms.CharField(
        required=False,
        max_length=100_000,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}),
        label="Patch (retry with patch)",
        help_text='Merge patch: {"customer": {"email": "x@example.com"}}; JSON Patch: '
        '[{"op": "replace", "path": "/order", "value": 1}]',
    )
    # An operation acts in one team: chosen here when the selection spans several.
    team = forms.TypedChoiceField(
        coerce=int, required=False, empty_value=None, label="Team"
    )

    def __init__(self, *args: Any, teams: Sequence[Team] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        team_field = self.fields["team"]
        assert isinstance(team_field, forms.TypedChoiceField)
        team_field.choices = [("", "—")] + [(t.pk, t.name) for t in teams]

    def clean(self) -> dict[str, Any]:
        from dashboard.bulk.patching import PatchError, parse_patch

        data = super().clean() or {}
        data["patch_value"] = None
        if data.get("action") == Action.RETRY_WITH_PATCH:
            try:
                data["patch_value"] = parse_patch(
                    data.get("patch") or "", data.get("patch_kind") or ""
                )
            except PatchError as err:
                self.add_error("patch", err.message)
        return data


class ConfirmForm(forms.Form):
    reason = forms.CharField(
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Why? It is recorded in the audit log with the operation.",
    )
    include_verified = forms.BooleanField(
        required=False, label="Retry the items reviewed as verified too"
    )


class ApprovalPolicyForm(forms.Form):
    threshold = forms.IntegerField(
        min_value=0,
        max_value=10_000_000,
        label="Bulk mark done / delete above this many items need a second person",
        help_text="0: never.",
    )
