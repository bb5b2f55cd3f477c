from __future__ import annotations

from typing import Any, cast

from django import forms

from dashboard.accounts import timezones
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


class TeamTimeZoneForm(forms.Form):
    time_zone = forms.ChoiceField(label="Default time zone of the team")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = cast(forms.ChoiceField, self.fields["time_zone"])
        field.choices = [(z, z) for z in timezones.choices()]


class PreferencesForm(forms.Form):
    time_zone = forms.ChoiceField(label="Show times in", required=False)

    def __init__(self, *args: Any, team_zone: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = cast(forms.ChoiceField, self.fields["time_zone"])
        field.choices = [
            ("", f"My team's time zone ({team_zone})"),
            *((z, z) for z in timezones.choices()),
        ]
