"""Forms of the alert pages: rules, channels, mute, preferences, digest settings."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import timezone

from dashboard.accounts.models import Team
from dashboard.alerts import channels
from dashboard.alerts.models import (
    EVENT_KINDS,
    Channel,
    Condition,
    DigestSettings,
    Preference,
    Rule,
)
from dashboard.workitems.models import SavedView
from dashboard.workspaces.models import Workspace

# Conditions whose `window_minutes` is the T (or M) of their sentence.
TIMED = {
    Condition.FAILURE_SPIKE,
    Condition.RUN_STUCK,
    Condition.ITEMS_PENDING,
    Condition.SYNC_FAILING,
}


def clean_query(text: str) -> str:
    """Accept an explorer query string, with or without "?", or a whole explorer URL."""
    text = text.strip()
    if "?" in text:
        text = text.split("?", 1)[1]
    return text


class RuleForm(forms.ModelForm):
    class Meta:
        model = Rule
        fields = (
            "name",
            "condition",
            "workspace",
            "saved_view",
            "filter_query",
            "threshold",
            "window_minutes",
            "event_kind",
            "renotify_minutes",
            "notify_recovered",
            "channels",
            "enabled",
        )
        labels = {
            "workspace": "Only this workspace",
            "saved_view": "Only items of this saved view",
            "filter_query": "Only items matching this explorer filter",
            "threshold": "N (more than this many)",
            "window_minutes": "M / T (minutes)",
            "event_kind": "Pushed event",
            "renotify_minutes": "Remind every (minutes, 0 = never)",
            "notify_recovered": "Send a message when it recovers",
        }
        help_texts = {
            "filter_query": "Paste the explorer's address or its query string (after the ?), "
            "e.g. a triage group's link. Empty: every item.",
            "threshold": "Failure spike: more than N failures; items pending: more than N items.",
            "window_minutes": "Failure spike: in the last M minutes. Run stuck, items pending, "
            "sync failing: for longer than T minutes.",
        }
        widgets = {"channels": forms.CheckboxSelectMultiple}

    def __init__(self, *args: Any, team: Team, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.team = team
        self.fields["workspace"].queryset = Workspace.objects.filter(team=team)  # type: ignore[attr-defined]
        self.fields["saved_view"].queryset = SavedView.objects.filter(team=team)  # type: ignore[attr-defined]
        self.fields["channels"].queryset = Channel.objects.filter(team=team)  # type: ignore[attr-defined]
        self.fields["event_kind"] = forms.ChoiceField(
            choices=[("", "—"), *EVENT_KINDS], required=False, label="Pushed event"
        )

    def clean_filter_query(self) -> str:
        return clean_query(self.cleaned_data.get("filter_query", ""))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        name = data.get("name")
        twins = Rule.objects.filter(team=self.team, name=name).exclude(
            pk=self.instance.pk
        )
        if name and twins.exists():
            self.add_error("name", "A rule of this team already has this name.")
        condition = data.get("condition")
        if data.get("saved_view") and data.get("filter_query"):
            self.add_error("filter_query", "Choose a saved view or a filter, not both.")
        if condition == Condition.EVENT and not data.get("event_kind"):
            self.add_error("event_kind", "Choose the event this rule listens to.")
        if condition != Condition.EVENT:
            data["event_kind"] = ""
        if condition in TIMED and not data.get("window_minutes"):
            self.add_error(
                "window_minutes", "This condition needs a number of minutes."
            )
        return data

    def validate_scope(self) -> None:
        """Refuse a filter the explorer would refuse (checked over the team's workspaces)."""
        from dashboard.alerts.conditions import (
            RuleError,
            rule_workspaces,
            scope_filters,
            team_scope,
        )

        if not self.is_valid() or self.cleaned_data["condition"] == Condition.EVENT:
            return
        rule: Rule = self.instance
        for name in ("workspace", "saved_view", "filter_query", "condition"):
            setattr(rule, name, self.cleaned_data[name])
        rule.team = self.team
        try:
            scope_filters(rule, team_scope(rule, rule_workspaces(rule)))
        except RuleError as err:
            self.add_error("filter_query", err.message)


class ChannelForm(forms.Form):
    name = forms.CharField(max_length=100)
    kind = forms.ChoiceField(choices=Channel.Kind.choices)
    url = forms.CharField(
        max_length=2000,
        required=False,
        label="Webhook URL",
        help_text="Slack, Teams and JSON webhooks. Stored encrypted and never shown again; "
        "leave empty when editing to keep the current one.",
        widget=forms.PasswordInput(render_value=False),
    )
    extra_recipients = forms.CharField(
        required=False,
        label="Also send to",
        help_text="Email only: addresses besides the team members who want alert mail.",
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    enabled = forms.BooleanField(required=False, initial=True)

    def __init__(
        self, *args: Any, channel: Channel | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.channel = channel
        if channel is not None:
            self.fields["kind"].disabled = True

    def clean_url(self) -> str:
        url: str = self.cleaned_data.get("url", "").strip()
        if url:
            try:
                channels.validate_url(url)
            except channels.ChannelError as err:
                raise ValidationError(err.message) from None
        return url

    def clean_extra_recipients(self) -> str:
        addresses = channels.parse_addresses(
            self.cleaned_data.get("extra_recipients", "")
        )
        for address in addresses:
            try:
                validate_email(address)
            except ValidationError:
                raise ValidationError(f"{address} is not an email address.") from None
        return "\n".join(addresses)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        kind = self.channel.kind if self.channel else data.get("kind")
        needs_url = kind != Channel.Kind.EMAIL
        if (
            needs_url
            and not data.get("url")
            and not (self.channel and self.channel.url_ciphertext)
        ):
            self.add_error("url", "This channel needs its webhook URL.")
        if not needs_url and data.get("url"):
            self.add_error("url", "An email channel has no URL.")
        return data


MUTE_CHOICES = [
    ("60", "1 hour"),
    ("240", "4 hours"),
    ("1440", "1 day"),
    ("10080", "1 week"),
    ("0", "Unmute"),
]


class MuteForm(forms.Form):
    minutes = forms.TypedChoiceField(choices=MUTE_CHOICES, coerce=int, label="Mute for")

    def until(self) -> Any:
        minutes: int = self.cleaned_data["minutes"]
        return timezone.now() + timedelta(minutes=minutes) if minutes else None


class PreferenceForm(forms.ModelForm):
    mute_hours = forms.TypedChoiceField(
        choices=[
            ("", "—"),
            ("0", "Unmute"),
            ("4", "4 hours"),
            ("24", "1 day"),
            ("168", "1 week"),
        ],
        coerce=int,
        empty_value=None,
        required=False,
        label="Mute all alert mail for",
    )

    class Meta:
        model = Preference
        fields = ("email_alerts", "email_digest")
        labels = {
            "email_alerts": "Email me this team's alerts",
            "email_digest": "Email me this team's daily digest",
        }


class DigestSettingsForm(forms.ModelForm):
    class Meta:
        model = DigestSettings
        fields = ("enabled", "hour_utc", "stuck_run_hours")
        labels = {
            "enabled": "Send the daily digest",
            "hour_utc": "Hour (UTC) it is sent, for the day before",
            "stuck_run_hours": "A run in progress longer than this many hours is stuck",
        }

    def clean_hour_utc(self) -> int:
        hour: int = self.cleaned_data["hour_utc"]
        if not 0 <= hour <= 23:
            raise ValidationError("An hour from 0 to 23.")
        return hour
