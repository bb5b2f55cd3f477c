"""Alert rules, the channels they notify, the alerts they open, and what was sent.

An alert is one condition of one rule, named by a key (a failure group, a run, a workspace):
open → (a reminder every `renotify_minutes` while open) → recovered. At most one alert per
(rule, key) is open at a time (a partial unique constraint), so two evaluations at once open
it once. Every message is an `AlertEvent`; each event is sent to each channel of the rule
through one `Delivery` row (unique per event and channel), claimed before it is sent.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from django.conf import settings
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from dashboard.accounts.models import Team
from dashboard.workitems.models import SavedView
from dashboard.workspaces.models import Workspace


class Channel(models.Model):
    """Where a team's alerts go. Webhook URLs and signing secrets are kept encrypted
    (`lib.secretbox`, bound to `uid`); only `url_hint` (scheme and host) is ever shown."""

    class Kind(models.TextChoices):
        EMAIL = "email", "Email"
        SLACK = "slack", "Slack incoming webhook"
        TEAMS = "teams", "Microsoft Teams workflow webhook"
        WEBHOOK = "webhook", "JSON webhook (HMAC-signed)"

    team = models.ForeignKey(
        Team, on_delete=models.CASCADE, related_name="alert_channels"
    )
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # Email: extra addresses besides the team members whose preferences ask for alerts.
    extra_recipients = models.TextField(blank=True)
    url_ciphertext = models.TextField(blank=True, editable=False)
    url_hint = models.CharField(max_length=200, blank=True, editable=False)
    secret_ciphertext = models.TextField(blank=True, editable=False)
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("team", "name", "id")
        constraints = [
            models.UniqueConstraint(
                fields=("team", "name"), name="alerts_channel_team_name_unique"
            )
        ]

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"<Channel {self.pk} {self.kind} team={self.team_id}>"

    @property
    def url_context(self) -> str:
        return f"alert-channel-url:{self.uid}"

    @property
    def secret_context(self) -> str:
        return f"alert-channel-secret:{self.uid}"


class Condition(models.TextChoices):
    NEW_GROUP = "new_group", "A new failure group appeared"
    FAILURE_SPIKE = "failure_spike", "More than N failures of a process in M minutes"
    RUN_STUCK = "run_stuck", "A run in progress longer than T minutes"
    ITEMS_PENDING = "items_pending", "Items pending longer than T minutes"
    KEY_REJECTED = "key_rejected", "A workspace's API key is rejected (401/403)"
    SYNC_FAILING = (
        "sync_failing",
        "A workspace's sync failing for longer than T minutes",
    )
    NO_WORKER = "no_worker", "Items wait while no worker of the workspace is online"
    EVENT = "event", "A pushed event (e.g. a retry policy's breaker opened)"


# The longest window, duration or reminder interval a rule may have: a year.
MAX_MINUTES = 366 * 24 * 60

# Kinds of pushed events (`services.emit`); the rule form offers these.
EVENT_KINDS = (("policy_breaker_opened", "A retry policy's circuit breaker opened"),)


class Rule(models.Model):
    """One condition watched for a team, scoped by workspace and an explorer filter (a saved
    view's, a triage group's, or its own query string)."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="alert_rules")
    name = models.CharField(max_length=100)
    condition = models.CharField(max_length=32, choices=Condition.choices)
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    # Deleting the saved view deletes the rules built on it: they would silently widen.
    saved_view = models.ForeignKey(
        SavedView, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    filter_query = models.CharField(max_length=2000, blank=True)
    threshold = models.PositiveIntegerField(
        default=0, validators=[MaxValueValidator(1_000_000)]
    )
    window_minutes = models.PositiveIntegerField(
        default=60, validators=[MaxValueValidator(MAX_MINUTES)]
    )
    event_kind = models.CharField(max_length=64, blank=True)
    renotify_minutes = models.PositiveIntegerField(
        default=0, validators=[MaxValueValidator(MAX_MINUTES)]
    )
    notify_recovered = models.BooleanField(default=True)
    channels = models.ManyToManyField(Channel, blank=True, related_name="rules")
    enabled = models.BooleanField(default=True)
    muted_until = models.DateTimeField(null=True, blank=True)
    # New-group rules remember the groups already seen; the first evaluation only learns them.
    baselined_at = models.DateTimeField(null=True, blank=True)
    last_evaluated_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("team", "name", "id")
        constraints = [
            models.UniqueConstraint(
                fields=("team", "name"), name="alerts_rule_team_name_unique"
            )
        ]

    def __str__(self) -> str:
        return self.name

    def is_muted(self, now: datetime | None = None) -> bool:
        return self.muted_until is not None and self.muted_until > (
            now or timezone.now()
        )

    @property
    def scope_query(self) -> str:
        """The explorer filter this rule watches (the saved view's, live, or its own)."""
        return (
            self.saved_view.query
            if self.saved_view_id and self.saved_view
            else self.filter_query
        )


class KnownGroup(models.Model):
    """A failure group a new-group rule has already seen (never alerted about twice)."""

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=400)
    first_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=("rule", "key"), name="alerts_knowngroup_rule_key_unique"
            )
        ]

    def __str__(self) -> str:
        return self.key


class Alert(models.Model):
    class State(models.TextChoices):
        OPEN = "open", "Open"
        RECOVERED = "recovered", "Recovered"

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="alerts")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    key = models.CharField(max_length=400)
    state = models.CharField(max_length=16, choices=State.choices, default=State.OPEN)
    title = models.CharField(max_length=300)
    detail = models.TextField(blank=True)
    link = models.CharField(max_length=2000, blank=True)
    opened_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    last_notified_at = models.DateTimeField(default=timezone.now)
    recovered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-opened_at", "-id")
        constraints = [
            models.UniqueConstraint(
                fields=("rule", "key"),
                condition=Q(state="open"),
                name="alerts_alert_one_open_per_key",
            )
        ]
        indexes = [
            models.Index(
                fields=("team", "-opened_at"), name="alerts_alert_team_opened"
            ),
            models.Index(fields=("rule", "state"), name="alerts_alert_rule_state"),
        ]

    def __str__(self) -> str:
        return self.title


class AlertEvent(models.Model):
    """One message about an alert: it opened, it is still open (reminder), it recovered."""

    class Kind(models.TextChoices):
        OPENED = "opened", "Opened"
        REMINDER = "reminder", "Still open"
        RECOVERED = "recovered", "Recovered"

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    created_at = models.DateTimeField(default=timezone.now)
    # Muted rules still record what happened; nothing is sent.
    muted = models.BooleanField(default=False)

    class Meta:
        ordering = ("-created_at", "-id")

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.alert.title}"


class Delivery(models.Model):
    """One event sent to one channel; claimed (pending → sending) before the send, so a task
    run twice sends once."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    event = models.ForeignKey(
        AlertEvent, on_delete=models.CASCADE, related_name="deliveries"
    )
    channel = models.ForeignKey(
        Channel, on_delete=models.CASCADE, related_name="deliveries"
    )
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    lease_owner = models.CharField(max_length=64, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # When the next send is due (a retry's back-off); the sweeper re-enqueues overdue ones.
    due_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ("-created_at", "-id")
        constraints = [
            models.UniqueConstraint(
                fields=("event", "channel"), name="alerts_delivery_event_channel_unique"
            )
        ]
        indexes = [
            models.Index(fields=("status", "due_at"), name="alerts_delivery_status_due")
        ]

    def __str__(self) -> str:
        return f"Delivery {self.pk} ({self.status})"


class Preference(models.Model):
    """A user's alert mail: which teams' alerts and digests, and "mute everything until"."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="alert_preferences",
    )
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    email_alerts = models.BooleanField(default=True)
    email_digest = models.BooleanField(default=True)
    muted_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=("user", "team"), name="alerts_preference_user_team_unique"
            )
        ]

    def __str__(self) -> str:
        return f"Alert preferences of user {self.user_id} in team {self.team_id}"


class DigestSettings(models.Model):
    """A team's daily digest: on or off, and the hour (UTC) it is sent for the day before."""

    team = models.OneToOneField(
        Team, on_delete=models.CASCADE, primary_key=True, related_name="digest_settings"
    )
    enabled = models.BooleanField(default=True)
    hour_utc = models.PositiveSmallIntegerField(default=7)
    stuck_run_hours = models.PositiveSmallIntegerField(default=2)

    def __str__(self) -> str:
        return f"Digest settings of team {self.team_id}"


class DigestRun(models.Model):
    """One team's digest of one day: the unique (team, day) makes sending it idempotent."""

    class Status(models.TextChoices):
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.SENDING
    )
    recipients = models.PositiveIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ("-day", "-id")
        constraints = [
            models.UniqueConstraint(
                fields=("team", "day"), name="alerts_digest_team_day_unique"
            )
        ]

    def __str__(self) -> str:
        return f"Digest of team {self.team_id} for {self.day}"
