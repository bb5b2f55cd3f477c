from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib.auth.forms import UserCreationForm
from django.contrib.auth.password_validation import password_validators_help_texts

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


class RegisterForm(UserCreationForm):
    """Sign-up on an invitation: the password rules in one sentence instead of a bullet list."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        rules = " ".join(str(text) for text in password_validators_help_texts())
        self.fields["username"].help_text = "Letters, digits and @ . + - _ only."
        self.fields["password1"].help_text = rules
        self.fields["password2"].help_text = ""
        self.fields["username"].widget.attrs.update(autocomplete="username")
