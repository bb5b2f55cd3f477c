from __future__ import annotations

from datetime import datetime, time

from django import forms
from django.utils import timezone

from dashboard.api.models import TOKEN_ROLES, ApiToken


class TokenForm(forms.Form):
    name = forms.CharField(max_length=60, help_text="Who uses it, e.g. nightly-retry.")
    kind = forms.ChoiceField(choices=ApiToken.Kind.choices, initial="personal")
    role = forms.TypedChoiceField(choices=TOKEN_ROLES, coerce=int, initial=10)
    expires_on = forms.DateField(
        required=False,
        label="Expires on (optional)",
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def expires_at(self) -> datetime | None:
        day = self.cleaned_data.get("expires_on")
        if day is None:
            return None
        return datetime.combine(day, time.max, tzinfo=timezone.get_current_timezone())
