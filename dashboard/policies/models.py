"""Retry policies: which failures a team retries automatically, how often and how fast, and
the record of what each policy did (claims, events).

A policy acts through the work-item action core like a person does; its claim rows make
"each failure occurrence is retried at most once per policy" a database fact (a unique
constraint), whatever the number of workers, deliveries or duplicated evaluations.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from dashboard.accounts.models import Team
from dashboard.mirror.models import FailureOccurrence, WorkItem
from dashboard.workspaces.models import Workspace


class RetryPolicy(models.Model):
    """What to retry (match), how (backoff, caps, quiet hours) and when to stop (breaker).

    State: disabled ⇄ enabled ⇄ paused; enabled → breaker_open when the breaker trips (only a
    team admin resumes it). Only an enabled policy acts.
    """

    class State(models.TextChoices):
        DISABLED = "disabled", "Disabled"
        ENABLED = "enabled", "Enabled"
        PAUSED = "paused", "Paused"
        BREAKER_OPEN = "breaker_open", "Breaker open"

    team = models.ForeignKey(
        Team, on_delete=models.CASCADE, related_name="retry_policies"
    )
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=300, blank=True)
    # --- match (an empty list matches everything) -------------------------------------------
    workspaces = models.ManyToManyField(Workspace, blank=True, related_name="+")
    process_names = models.JSONField(default=list, blank=True)
    exception_type = models.CharField(max_length=32, blank=True)
    exception_codes = models.JSONField(default=list, blank=True)
    # RE2 syntax (linear time); searched in the exception message.
    message_pattern = models.CharField(max_length=500, blank=True)
    max_item_age_hours = models.PositiveIntegerField(null=True, blank=True)
    # --- action -------------------------------------------------------------------------------
    backoff_minutes = models.JSONField(
        default=list
    )  # [1, 5, 30]: before attempt 1, 2, 3…
    max_attempts = models.PositiveSmallIntegerField(default=3)
    max_items_per_hour = models.PositiveIntegerField(default=100)
    quiet_start = models.TimeField(null=True, blank=True)
    quiet_end = models.TimeField(null=True, blank=True)
    # --- circuit breaker ------------------------------------------------------------------------
    breaker_window = models.PositiveSmallIntegerField(default=20)
    breaker_min_sample = models.PositiveSmallIntegerField(default=5)
    breaker_min_success_percent = models.PositiveSmallIntegerField(default=30)
    # Items whose every allowed attempt failed again within the last hour; 0 = off.
    breaker_exhausted_items = models.PositiveIntegerField(default=10)
    # --- state ----------------------------------------------------------------------------------
    state = models.CharField(
        max_length=16, choices=State.choices, default=State.DISABLED
    )
    state_reason = models.CharField(max_length=300, blank=True)
    state_changed_at = models.DateTimeField(default=timezone.now)
    # The policy acts with this member's rights, checked at every send (the admin who last
    # enabled it): it stops when they lose the operator role or leave the team.
    acting_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("team", "name", "id")
        constraints = [
            models.UniqueConstraint(
                fields=("team", "name"), name="policy_team_name_unique"
            )
        ]
        indexes = [models.Index(fields=("team", "state"), name="policy_team_state")]

    def __str__(self) -> str:
        return self.name

    @property
    def actor_label(self) -> str:
        return f"policy {self.name}"[:150]

    @property
    def is_enabled(self) -> bool:
        return self.state == self.State.ENABLED


class PolicyClaim(models.Model):
    """One policy's decision on one failure occurrence of one item, claimed before acting.

    The unique (policy, item, occurrence number) insert is the claim: a duplicate means
    another evaluation has it. claimed → sent | skipped | failed; a claim whose lease ran out
    (its worker died) is reconciled by re-reading the item, never sent blindly again.
    """

    class State(models.TextChoices):
        CLAIMED = "claimed", "Claimed"
        SENT = "sent", "Retried"
        SKIPPED = "skipped", "Skipped"
        FAILED = "failed", "Failed"

    policy = models.ForeignKey(
        RetryPolicy, on_delete=models.CASCADE, related_name="claims"
    )
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    work_item = models.ForeignKey(WorkItem, on_delete=models.CASCADE, related_name="+")
    occurrence_number = models.PositiveIntegerField()
    occurrence = models.ForeignKey(
        FailureOccurrence,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    failed_at = models.DateTimeField(null=True, blank=True)
    exception_code = models.CharField(max_length=200, blank=True)
    attempt = models.PositiveSmallIntegerField(default=0)  # 1-based, 0 for a skip
    state = models.CharField(max_length=8, choices=State.choices, default=State.CLAIMED)
    reason = models.CharField(max_length=300, blank=True)
    lease_owner = models.CharField(max_length=64, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at", "-id")
        constraints = [
            models.UniqueConstraint(
                fields=("policy", "work_item", "occurrence_number"),
                name="policy_claim_once_per_occurrence",
            )
        ]
        indexes = [
            models.Index(fields=("policy", "-created_at"), name="policy_claim_recent"),
            models.Index(
                fields=("workspace", "lease_until"),
                condition=Q(state="claimed"),
                name="policy_claim_open",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.policy_id}/{self.work_item_id}#{self.occurrence_number} ({self.state})"


class PolicyEvent(models.Model):
    """A change of a policy (created, edited, enabled, paused, breaker opened…), for its page."""

    policy = models.ForeignKey(
        RetryPolicy, on_delete=models.CASCADE, related_name="events"
    )
    kind = models.CharField(max_length=32)
    message = models.CharField(max_length=500)
    actor_label = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("-created_at", "-id")

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"
