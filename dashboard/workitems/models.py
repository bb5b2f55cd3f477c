"""Operations on work items: per-process payload schemas and saved explorer views."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from dashboard.accounts.models import Team
from dashboard.workspaces.models import Workspace


class ProcessSchema(models.Model):
    """An optional JSON Schema that payloads of one process must satisfy before they are
    sent to Control Room. Managed by team admins; read by `schemas.validate_payload`."""

    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="process_schemas"
    )
    process_external_id = models.CharField(max_length=100)
    schema = models.JSONField(default=dict)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("workspace", "process_external_id")
        constraints = [
            models.UniqueConstraint(
                fields=("workspace", "process_external_id"),
                name="operations_schema_ws_process_unique",
            )
        ]

    def __str__(self) -> str:
        return f"Payload schema of process {self.process_external_id}"


class SavedView(models.Model):
    """A named explorer filter (its query string), shared with everyone in the team."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="saved_views")
    name = models.CharField(max_length=100)
    query = models.CharField(max_length=2000, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("team", "name", "id")
        constraints = [
            models.UniqueConstraint(
                fields=("team", "name"), name="operations_savedview_team_name_unique"
            )
        ]

    def __str__(self) -> str:
        return self.name


# --- working on failures together -------------------------------------------------------------
# Attached to the mirror's WorkItem row: the mirror upserts rows by (workspace, external id)
# and never deletes one (an item gone from Control Room is marked `gone_at`), so these survive
# every re-sync, and the explorer filters them with a join instead of a tuple lookup.


class ReviewStatus(models.TextChoices):
    NONE = "none", "Not reviewed"
    IN_REVIEW = "in_review", "In review"
    VERIFIED = "verified", "Verified"
    RETRIED = "retried", "Retried"


class ItemHandling(models.Model):
    """How the team handles one item: who owns it, its review status, and its snooze."""

    work_item = models.OneToOneField(
        "mirror.WorkItem", on_delete=models.CASCADE, related_name="handling"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="owned_items",
    )
    owned_since = models.DateTimeField(null=True, blank=True)
    review_status = models.CharField(
        max_length=16, choices=ReviewStatus.choices, default=ReviewStatus.NONE
    )
    review_updated_at = models.DateTimeField(null=True, blank=True)
    snoozed_until = models.DateTimeField(null=True, blank=True)
    # Snoozed until the process's next run: one created after this moment ends the snooze.
    snoozed_for_run_after = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=("owner",), name="op_handling_owner"),
            models.Index(fields=("review_status",), name="op_handling_review"),
        ]

    def __str__(self) -> str:
        return f"Handling of work item {self.work_item_id}"


class FailureGroupKey(models.Model):
    """A triage group, keyed like the triage GROUP BY (workspace, process, exception type,
    code, normalised message): group comments and snoozes hang off it, so they apply to
    every item of the group, the future ones too."""

    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="failure_groups"
    )
    process_external_id = models.CharField(max_length=100)
    exception_type = models.CharField(max_length=32, blank=True)
    exception_code = models.CharField(max_length=200, blank=True)
    signature = models.CharField(max_length=255, blank=True)
    snoozed_until = models.DateTimeField(null=True, blank=True)
    snoozed_for_run_after = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=(
                    "workspace",
                    "process_external_id",
                    "exception_type",
                    "exception_code",
                    "signature",
                ),
                name="operations_group_key_unique",
            )
        ]

    def __str__(self) -> str:
        return f"Failure group {self.exception_code or self.signature[:40]}"


class Comment(models.Model):
    """A plain-text note on one item or on a failure group (exactly one of the two)."""

    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="comments"
    )
    work_item = models.ForeignKey(
        "mirror.WorkItem",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="comments",
    )
    group = models.ForeignKey(
        FailureGroupKey,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="comments",
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    author_label = models.CharField(max_length=150)
    body = models.TextField(max_length=5000)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("created_at", "id")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(work_item__isnull=False, group__isnull=True)
                | models.Q(work_item__isnull=True, group__isnull=False),
                name="operations_comment_item_xor_group",
            )
        ]

    def __str__(self) -> str:
        return f"Comment by {self.author_label}"


class Notification(models.Model):
    """An in-app notice for one user (an @mention); unread until `read_at`."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    text = models.CharField(max_length=500)
    url = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [models.Index(fields=("user", "read_at"), name="op_notice_unread")]

    def __str__(self) -> str:
        return self.text[:60]


class PendingAction(models.Model):
    """A mark done or delete held for the undo window before it is sent to Control Room."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        UNDONE = "undone", "Undone"

    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="pending_actions"
    )
    action = models.CharField(max_length=32)
    work_item_ids = models.JSONField(default=list)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    actor_label = models.CharField(max_length=150, blank=True)
    actor_ip = models.GenericIPAddressField(null=True, blank=True)
    actor_agent = models.CharField(max_length=300, blank=True)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.PENDING
    )
    created_at = models.DateTimeField(default=timezone.now)
    due_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)
    outcome = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [
            models.Index(fields=("status", "due_at"), name="op_pending_due"),
        ]

    def __str__(self) -> str:
        return f"{self.action} of {len(self.work_item_ids)} item(s) ({self.status})"


class PayloadVersion(models.Model):
    """One payload edit made through Workroom: the payload before and after it."""

    work_item = models.ForeignKey(
        "mirror.WorkItem", on_delete=models.CASCADE, related_name="payload_versions"
    )
    number = models.PositiveIntegerField()
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    author_label = models.CharField(max_length=150, blank=True)
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("work_item", "-number")
        constraints = [
            models.UniqueConstraint(
                fields=("work_item", "number"), name="operations_payload_version_unique"
            )
        ]

    def __str__(self) -> str:
        return f"Payload version {self.number} of work item {self.work_item_id}"


class FailureGroupRollup(models.Model):
    """The triage GROUP BY kept at write time: one row per group of currently failed live
    items (workspace, process, exception type, code, normalised message) with its count,
    first / last state change and newest item. Rewritten by `workitems.rollup` after each
    sync of the workspace and after every action that may move an item in or out of a
    group; triage reads it instead of grouping a million rows per view."""

    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="failure_rollups"
    )
    # No foreign key: the mirror's purge deletes processes with plain SQL (mirror.signals).
    process_id = models.BigIntegerField(null=True, blank=True)
    exception_type = models.CharField(max_length=32, blank=True)
    exception_code = models.CharField(max_length=200, blank=True)
    signature = models.CharField(max_length=255, blank=True)
    count = models.PositiveIntegerField()
    first_seen = models.DateTimeField(null=True, blank=True)
    last_seen = models.DateTimeField(null=True, blank=True)
    sample_id = models.BigIntegerField()
    sample_message = models.TextField(blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=("workspace", "process_id", "exception_code"),
                name="operations_rollup_ws_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.count} failed: {self.exception_code or self.signature[:40]}"
