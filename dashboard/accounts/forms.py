from __future__ import annotations

from django import forms

from dashboard.accounts.models import Role


class TeamForm(forms.Form):
    name = forms.CharField(max_length=100, strip=True)


class InvitationForm(forms.Form):
    role = forms.TypedChoiceField(
        label="Role of the invited person",
        choices=Role.choices,
        coerce=int,
        initial=Role.VIEWER,
    )


class RoleForm(forms.Form):
    role = forms.TypedChoiceField(choices=Role.choices, coerce=int)
