"""Forms of the fleet pages (names, link token expiry, package zip, asset content)."""

from __future__ import annotations

import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any

from django import forms

NAME_MAX = 255
EXPIRY_CHOICES = (
    ("1", "1 day"),
    ("7", "7 days"),
    ("30", "30 days"),
    ("never", "never"),
)


class NameForm(forms.Form):
    name = forms.CharField(max_length=NAME_MAX, strip=True)


class LinkTokenForm(forms.Form):
    name = forms.CharField(max_length=NAME_MAX, strip=True)
    expires = forms.ChoiceField(choices=EXPIRY_CHOICES, initial="7")

    def expires_at(self) -> datetime | None:
        value = self.cleaned_data["expires"]
        if value == "never":
            return None
        return datetime.now(UTC) + timedelta(days=int(value))


class PackageForm(forms.Form):
    name = forms.CharField(max_length=NAME_MAX, strip=True)
    bundle = forms.FileField(label="Robot zip")

    def clean_bundle(self) -> Any:
        bundle = self.cleaned_data["bundle"]
        position = bundle.tell()
        if not zipfile.is_zipfile(bundle):
            raise forms.ValidationError("The file is not a zip archive.")
        bundle.seek(position)
        return bundle


class AssetJsonForm(forms.Form):
    content = forms.CharField(widget=forms.Textarea(attrs={"rows": 16}), strip=False)
    content_type = forms.ChoiceField(
        choices=(("application/json", "JSON"), ("text/plain", "Text")),
        initial="application/json",
    )


class AssetFileForm(forms.Form):
    file = forms.FileField()
