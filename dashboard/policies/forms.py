"""The retry-policy form: text fields people can type ("1, 5, 30"), validated into the
model's lists; a pattern that RE2 cannot compile is refused next to its field."""

from __future__ import annotations

from typing import Any

from django import forms

from dashboard.accounts.models import Team
from dashboard.policies.dryrun import MAX_DAYS
from dashboard.policies.matching import (
    BadSetting,
    compile_pattern,
    parse_backoff,
    split_list,
)
from dashboard.policies.models import RetryPolicy
from dashboard.workspaces.models import Workspace
from robocorp_api.models import EXCEPTION_TYPES

_MODEL_FIELDS = (
    "name",
    "description",
    "exception_type",
    "message_pattern",
    "max_item_age_hours",
    "max_attempts",
    "max_items_per_hour",
    "quiet_start",
    "quiet_end",
    "breaker_window",
    "breaker_min_sample",
    "breaker_min_success_percent",
    "breaker_exhausted_items",
)


class PolicyForm(forms.Form):
    name = forms.CharField(max_length=100)
    description = forms.CharField(max_length=300, required=False)
    workspaces = forms.ModelMultipleChoiceField(
        queryset=Workspace.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every workspace of the team.",
    )
    process_names = forms.CharField(
        required=False,
        max_length=2000,
        label="Processes",
        help_text="Process names, comma-separated; empty: every process.",
    )
    exception_type = forms.ChoiceField(
        required=False,
        choices=[("", "Any type"), *[(t, t.title()) for t in EXCEPTION_TYPES]],
    )
    exception_codes = forms.CharField(
        required=False,
        max_length=2000,
        label="Exception codes",
        help_text="Comma-separated, e.g. HTTP_ERROR; empty: any code.",
    )
    message_pattern = forms.CharField(
        required=False,
        max_length=500,
        help_text="RE2 pattern searched in the message, e.g. HTTP 5\\d\\d; empty: any.",
    )
    max_item_age_hours = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=24 * 365,
        label="Only items younger than (hours)",
    )
    backoff = forms.CharField(
        max_length=200,
        initial="1, 5, 30",
        label="Wait before each attempt (minutes)",
        help_text="Comma-separated; the last one repeats.",
    )
    max_attempts = forms.IntegerField(min_value=1, max_value=20, initial=3)
    max_items_per_hour = forms.IntegerField(min_value=1, max_value=100_000, initial=100)
    quiet_start = forms.TimeField(
        required=False, help_text="HH:MM in the team's time zone; no retries from…"
    )
    quiet_end = forms.TimeField(required=False, help_text="…until HH:MM.")
    breaker_window = forms.IntegerField(
        min_value=1, max_value=1000, initial=20, label="Breaker: last N retries"
    )
    breaker_min_sample = forms.IntegerField(
        min_value=1,
        max_value=1000,
        initial=5,
        label="Breaker: at least N known outcomes",
    )
    breaker_min_success_percent = forms.IntegerField(
        min_value=0, max_value=100, initial=30, label="Breaker: minimum success (%)"
    )
    breaker_exhausted_items = forms.IntegerField(
        min_value=0,
        max_value=100_000,
        initial=10,
        label="Breaker: items failing after every attempt within an hour",
        help_text="0: off.",
    )

    def __init__(self, *args: Any, team: Team, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.team = team
        field = self.fields["workspaces"]
        assert isinstance(field, forms.ModelMultipleChoiceField)
        field.queryset = Workspace.objects.filter(team=team).order_by("name")

    @classmethod
    def initial_for(cls, policy: RetryPolicy) -> dict[str, Any]:
        initial = {name: getattr(policy, name) for name in _MODEL_FIELDS}
        initial["workspaces"] = list(policy.workspaces.all())
        initial["process_names"] = ", ".join(policy.process_names)
        initial["exception_codes"] = ", ".join(policy.exception_codes)
        initial["backoff"] = ", ".join(str(m) for m in policy.backoff_minutes)
        return initial

    def clean_message_pattern(self) -> str:
        pattern: str = self.cleaned_data.get("message_pattern", "")
        try:
            compile_pattern(pattern)
        except BadSetting as err:
            raise forms.ValidationError(str(err)) from None
        return pattern

    def clean_backoff(self) -> list[int]:
        try:
            return parse_backoff(self.cleaned_data.get("backoff", ""))
        except BadSetting as err:
            raise forms.ValidationError(str(err)) from None

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if (data.get("quiet_start") is None) != (data.get("quiet_end") is None):
            self.add_error(
                "quiet_end", "Give both ends of the quiet hours, or neither."
            )
        name = data.get("name")
        if name:
            same = RetryPolicy.objects.filter(team=self.team, name=name)
            if self.initial.get("pk"):
                same = same.exclude(pk=self.initial["pk"])
            if same.exists():
                self.add_error("name", "The team already has a policy with this name.")
        return data

    def apply_to(self, policy: RetryPolicy) -> list[str]:
        """Copy the cleaned values onto `policy` (unsaved); return the names that changed."""
        data = self.cleaned_data
        values: dict[str, Any] = {name: data.get(name) for name in _MODEL_FIELDS}
        values["description"] = data.get("description") or ""
        values["exception_type"] = data.get("exception_type") or ""
        values["message_pattern"] = data.get("message_pattern") or ""
        values["process_names"] = split_list(data.get("process_names") or "")
        values["exception_codes"] = split_list(data.get("exception_codes") or "")
        values["backoff_minutes"] = data["backoff"]
        changed = [k for k, v in values.items() if getattr(policy, k, None) != v]
        for name, value in values.items():
            setattr(policy, name, value)
        policy.team = self.team
        return changed

    GROUPS = (
        (
            "Which failures",
            (
                "name",
                "description",
                "workspaces",
                "process_names",
                "exception_type",
                "exception_codes",
                "message_pattern",
                "max_item_age_hours",
            ),
        ),
        (
            "How to retry",
            (
                "backoff",
                "max_attempts",
                "max_items_per_hour",
                "quiet_start",
                "quiet_end",
            ),
        ),
        (
            "Circuit breaker (pauses the policy)",
            (
                "breaker_window",
                "breaker_min_sample",
                "breaker_min_success_percent",
                "breaker_exhausted_items",
            ),
        ),
    )

    def groups(self) -> list[tuple[str, list[forms.BoundField]]]:
        """The fields in their fieldsets, for the template."""
        return [
            (legend, [self[name] for name in names]) for legend, names in self.GROUPS
        ]

    @property
    def workspace_list(self) -> list[Workspace]:
        return list(self.cleaned_data.get("workspaces") or [])


class DryRunForm(forms.Form):
    days = forms.IntegerField(
        min_value=1, max_value=MAX_DAYS, initial=7, required=False
    )

    @property
    def days_value(self) -> int:
        if self.is_valid() and self.cleaned_data.get("days"):
            return int(self.cleaned_data["days"])
        return 7
