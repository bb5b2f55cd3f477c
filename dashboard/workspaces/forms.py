"""Workspace forms. The API key field never renders a value back (write-only)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.models import AnonymousUser

from dashboard.accounts.models import User
from dashboard.workspaces.services import (
    CLOUD_BASE_URL,
    WorkspaceError,
    sso_base_url,
    validate_base_url,
)

BASE_URL_CHOICES = (
    ("cloud", f"Robocorp cloud ({CLOUD_BASE_URL})"),
    ("sso", "SSO tenant (https://<tenant>.robocorp.com/api/v1)"),
    ("custom", "Custom URL"),
)


class _ReauthForm(forms.Form):
    """Asks for the user's password again before a key is stored (ASVS 7.5.1)."""

    password = forms.CharField(
        label="Your Workroom password",
        strip=False,
        widget=forms.PasswordInput(
            render_value=False, attrs={"autocomplete": "current-password"}
        ),
        help_text="Confirms it is you before a Control Room key is stored.",
    )

    def __init__(self, *args: Any, user: User | AnonymousUser, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_password(self) -> str:
        password: str = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise forms.ValidationError("That is not your password.")
        return ""  # never keep it around in cleaned_data


def _api_key_field() -> forms.CharField:
    return forms.CharField(
        label="API key",
        max_length=500,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Control Room → workspace → Integrations → API keys. Stored encrypted; never shown again.",
    )


class WorkspaceAddForm(_ReauthForm):
    field_order = (
        "name",
        "base_url_choice",
        "sso_tenant",
        "custom_url",
        "cr_workspace_id",
        "api_key",
        "password",
    )

    name = forms.CharField(max_length=100)
    base_url_choice = forms.ChoiceField(
        label="Control Room API",
        choices=BASE_URL_CHOICES,
        initial="cloud",
        widget=forms.RadioSelect,
    )
    sso_tenant = forms.CharField(label="SSO subdomain", max_length=63, required=False)
    custom_url = forms.CharField(
        label="Custom API URL",
        max_length=300,
        required=False,
        help_text="https only, ending in /api/v1.",
    )
    cr_workspace_id = forms.CharField(label="Workspace id", max_length=100)
    api_key = _api_key_field()

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        choice = data.get("base_url_choice")
        try:
            if choice == "cloud":
                data["base_url"] = CLOUD_BASE_URL
            elif choice == "sso":
                data["base_url"] = sso_base_url(data.get("sso_tenant", ""))
            elif choice == "custom":
                data["base_url"] = validate_base_url(data.get("custom_url", ""))
        except WorkspaceError as err:
            self.add_error(err.field if err.field in self.fields else None, err.message)
        return data


class ReplaceKeyForm(_ReauthForm):
    field_order = ("api_key", "password")
    api_key = _api_key_field()
