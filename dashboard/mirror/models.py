"""The local mirror of a Control Room workspace, and the bookkeeping of its sync.

Foreign keys to Workspace are DO_NOTHING on Django's side: deleting a workspace purges its
mirror with set-based DELETEs (`signals.py`) instead of loading every row into the cascade
collector. The database constraints stay.

Every mirror table is keyed on (workspace, external_id), the Control Room id. Rows are
written in batches by `services/sync.py`; a row that should have been seen by a sync but
wasn't gets `gone_at` set instead of being deleted, so history stays explainable.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from dashboard.workspaces.models import Workspace

RUN_TERMINAL_STATES = frozenset({"completed", "unresolved"})
# A work item in one of these states still changes without anyone acting on it: the mirror
# watches it until Control Room reports it terminal (done, failed) or gone.
ITEM_ACTIVE_STATES = ("new", "pending", "in_progress")
ITEM_TERMINAL_STATES = frozenset({"done", "failed"})
STEP_RUN_TERMINAL_STATES = frozenset({"completed", "failed"})


class MirrorRow(models.Model):
    """Columns every mirrored Control Room object has."""

    workspace = models.ForeignKey(
        Workspace, on_delete=models.DO_NOTHING, related_name="+", db_index=False
    )
    external_id = models.CharField(max_length=100)
    first_seen_at = models.DateTimeField(default=timezone.now)
    # When a sync last read the row (the failed-items sweep does not bump unchanged rows).
    last_seen_at = models.DateTimeField(default=timezone.now)
    gone_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{type(self).__name__} {self.external_id}"


class Process(MirrorRow):
    workspace = models.ForeignKey(
        Workspace,
        on_delete=models.DO_NOTHING,
        related_name="mirror_processes",
        db_index=False,
    )
    name = models.CharField(max_length=300)
    created_at = models.DateTimeField(null=True, blank=True)
    # {state: count} of the process's live work items, recomputed by the sync when rows change.
    item_counts = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ("name", "id")
        constraints = [
            models.UniqueConstraint(
                fields=("workspace", "external_id"), name="mirror_process_ext_unique"
            )
        ]

    def __str__(self) -> str:
        return self.name


class ProcessRun(MirrorRow):
    """A process run. `detail_synced_state` is the run state at which its step runs and work
    items were last read completely; a run whose state differs, or that is flagged
    `needs_refresh`, is re-read by the next sync (this is what makes a sync resumable)."""

    workspace = models.ForeignKey(
        Workspace,
        on_delete=models.DO_NOTHING,
        related_name="mirror_runs",
        db_index=False,
    )
    process = models.ForeignKey(
        Process, on_delete=models.CASCADE, related_name="runs", db_index=False
    )
    process_external_id = models.CharField(max_length=100)
    state = models.CharField(max_length=32)
    created_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    duration = models.FloatField(null=True, blank=True)
    started_by_type = models.CharField(max_length=32, blank=True)
    started_by = models.JSONField(null=True, blank=True)
    detail_synced_state = models.CharField(max_length=32, blank=True)
    detail_synced_at = models.DateTimeField(null=True, blank=True)
    needs_refresh = models.BooleanField(default=False)
    # When something outside the sync (a webhook) last asked for a re-read; the sync clears
    # `needs_refresh` only if no request came in after it started reading the run.
    refresh_requested_at = models.DateTimeField(null=True, blank=True)
    # Control Room's v1 API gives no run number; Workroom counts each process's runs in the
    # order it first saw them, oldest first (services/runnumbers.py). None until numbered.
    number = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at", "-id")
        constraints = [
            models.UniqueConstraint(
                fields=("workspace", "external_id"), name="mirror_run_ext_unique"
            ),
            models.UniqueConstraint(
                fields=("process", "number"), name="mirror_run_process_number"
            ),
        ]
        indexes = [
            models.Index(
                fields=("workspace", "-created_at", "-id"), name="mirror_run_ws_created"
            ),
            models.Index(fields=("process", "state"), name="mirror_run_process_state"),
            models.Index(
                fields=("workspace",),
                condition=Q(needs_refresh=True) & Q(gone_at__isnull=True),
                name="mirror_run_needs_refresh",
            ),
        ]

    @property
    def is_terminal(self) -> bool:
        return self.state in RUN_TERMINAL_STATES


class StepRun(MirrorRow):
    workspace = models.ForeignKey(
        Workspace,
        on_delete=models.DO_NOTHING,
        related_name="mirror_step_runs",
        db_index=False,
    )
    process_run = models.ForeignKey(
        ProcessRun, on_delete=models.CASCADE, related_name="step_runs"
    )
    step_external_id = models.CharField(max_length=100, blank=True)
    step_name = models.CharField(max_length=300, blank=True)
    state = models.CharField(max_length=32)
    state_updated_at = models.DateTimeField(null=True, blank=True)
    error_code = models.CharField(max_length=200, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    duration = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ("started_at", "id")
        constraints = [
            models.UniqueConstraint(
                fields=("workspace", "external_id"), name="mirror_steprun_ext_unique"
            )
        ]


class WorkItem(MirrorRow):
    """A work item. List rows of the API carry no payload, so `payload` / `files` are filled
    by a separate read (`payload_synced_at`), for failed items first (the ones people fix).

    `row_hash` fingerprints the listed fields so an unchanged row is not rewritten."""

    workspace = models.ForeignKey(
        Workspace,
        on_delete=models.DO_NOTHING,
        related_name="mirror_work_items",
        db_index=False,
    )
    process = models.ForeignKey(
        Process, on_delete=models.CASCADE, related_name="work_items", db_index=False
    )
    process_run = models.ForeignKey(
        ProcessRun,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="work_items",
    )
    process_external_id = models.CharField(max_length=100)
    process_run_external_id = models.CharField(max_length=100, blank=True)
    step_external_id = models.CharField(max_length=100, blank=True)
    step_run_external_id = models.CharField(max_length=100, blank=True)
    state = models.CharField(max_length=32)
    state_updated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    exception_type = models.CharField(max_length=32, blank=True)
    exception_code = models.CharField(max_length=200, blank=True)
    exception_message = models.TextField(blank=True)
    message_signature = models.CharField(max_length=255, blank=True)
    payload = models.JSONField(null=True, blank=True)
    files = models.JSONField(default=list, blank=True)
    payload_synced_at = models.DateTimeField(null=True, blank=True)
    row_hash = models.CharField(max_length=32, blank=True)

    class Meta:
        ordering = ("-created_at", "-id")
        constraints = [
            models.UniqueConstraint(
                fields=("workspace", "external_id"), name="mirror_item_ext_unique"
            )
        ]
        indexes = [
            models.Index(
                fields=("workspace", "state", "state_updated_at"),
                name="mirror_item_ws_state_upd",
            ),
            models.Index(fields=("process", "state"), name="mirror_item_process_state"),
            models.Index(
                fields=("workspace", "exception_code"), name="mirror_item_ws_exc_code"
            ),
            models.Index(
                fields=("workspace", "message_signature"),
                name="mirror_item_ws_signature",
            ),
            models.Index(
                fields=("workspace", "-created_at", "-id"),
                name="mirror_item_ws_created",
            ),
            models.Index(fields=("-created_at", "-id"), name="mirror_item_created"),
        ]


class WorkItemStateChange(models.Model):
    """A state change of a work item observed by a sync (the item's history)."""

    work_item = models.ForeignKey(
        WorkItem, on_delete=models.CASCADE, related_name="state_changes"
    )
    sync_run = models.ForeignKey(
        "SyncRun", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    old_state = models.CharField(max_length=32)
    new_state = models.CharField(max_length=32)
    exception_code = models.CharField(max_length=200, blank=True)
    observed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("-observed_at", "-id")

    def __str__(self) -> str:
        return f"{self.old_state} → {self.new_state}"


class SyncRun(models.Model):
    """One sync of a workspace (or of one of its runs).

    Status: queued → running → succeeded | failed | skipped. A transient failure puts a running
    sync back to queued with `due_at` in the future (the task retries); the sweeper re-enqueues
    queued syncs whose message was lost and running ones whose worker died (lease expired).
    `attempt` counts deliveries so a sync that keeps killing its worker is given up.
    """

    class Trigger(models.TextChoices):
        BEAT = "beat", "Schedule"
        MANUAL = "manual", "Sync now"
        WEBHOOK = "webhook", "Webhook"
        SWEEPER = "sweeper", "Sweeper"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    ACTIVE_STATUSES = (Status.QUEUED, Status.RUNNING)

    workspace = models.ForeignKey(
        Workspace, on_delete=models.DO_NOTHING, related_name="sync_runs"
    )
    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.QUEUED
    )
    # "" = the whole workspace; otherwise the Control Room id of the one run to sync.
    target_run_external_id = models.CharField(max_length=100, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)
    due_at = models.DateTimeField(default=timezone.now)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    attempt = models.PositiveIntegerField(default=0)
    requests_made = models.PositiveIntegerField(default=0)
    rows_created = models.PositiveIntegerField(default=0)
    rows_updated = models.PositiveIntegerField(default=0)
    rows_gone = models.PositiveIntegerField(default=0)
    runs_read = models.PositiveIntegerField(default=0)
    phase = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ("-created_at", "-id")
        constraints = [
            # At most one queued/running sync per (workspace, target): two triggers make one sync.
            models.UniqueConstraint(
                fields=("workspace", "target_run_external_id"),
                condition=Q(status__in=("queued", "running")),
                name="mirror_syncrun_one_active",
            )
        ]
        indexes = [
            models.Index(
                fields=("workspace", "-created_at"), name="mirror_syncrun_ws_created"
            ),
            models.Index(fields=("status", "due_at"), name="mirror_syncrun_status_due"),
        ]

    def __str__(self) -> str:
        target = (
            f" run {self.target_run_external_id}" if self.target_run_external_id else ""
        )
        return f"Sync #{self.pk}{target} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE_STATUSES

    @property
    def duration(self) -> timedelta | None:
        if self.started_at is None:
            return None
        return (self.finished_at or timezone.now()) - self.started_at


WORKER_ONLINE_STATES = frozenset({"idle", "busy"})


class WorkerGroup(MirrorRow):
    """A worker group (the v1 API gives only its id and name)."""

    workspace = models.ForeignKey(
        Workspace,
        on_delete=models.DO_NOTHING,
        related_name="mirror_worker_groups",
        db_index=False,
    )
    name = models.CharField(max_length=300)

    class Meta:
        ordering = ("name", "id")
        constraints = [
            models.UniqueConstraint(
                fields=("workspace", "external_id"), name="mirror_wgroup_ext_unique"
            )
        ]

    def __str__(self) -> str:
        return self.name


class Worker(MirrorRow):
    """A worker: state offline | idle | busy as last listed.

    `last_online_at` is when a sync last saw it idle or busy ("last seen"). The v1 API has no
    read of a worker's groups: `group_external_ids` holds what the answers of adding or removing
    it (through Workroom) said, empty when unknown.
    """

    workspace = models.ForeignKey(
        Workspace,
        on_delete=models.DO_NOTHING,
        related_name="mirror_workers",
        db_index=False,
    )
    name = models.CharField(max_length=300)
    state = models.CharField(max_length=32)
    state_changed_at = models.DateTimeField(default=timezone.now)
    last_online_at = models.DateTimeField(null=True, blank=True)
    group_external_ids = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ("name", "id")
        constraints = [
            models.UniqueConstraint(
                fields=("workspace", "external_id"), name="mirror_worker_ext_unique"
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_online(self) -> bool:
        return self.state in WORKER_ONLINE_STATES and self.gone_at is None


class WorkerStateChange(models.Model):
    """A worker's state change observed by a sync (its history)."""

    worker = models.ForeignKey(
        Worker, on_delete=models.CASCADE, related_name="state_changes"
    )
    old_state = models.CharField(max_length=32)
    new_state = models.CharField(max_length=32)
    observed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("-observed_at", "-id")

    def __str__(self) -> str:
        return f"{self.worker_id}: {self.old_state} → {self.new_state}"


class WorkspaceSyncState(models.Model):
    """Per-workspace sync bookkeeping: the lease (one sync at a time), the schedule, progress.

    The lease is taken with a conditional UPDATE (`services.lease`), expires on its own (a
    killed worker never holds it forever) and is longer than the task's hard time limit.
    """

    workspace = models.OneToOneField(
        Workspace,
        on_delete=models.DO_NOTHING,
        primary_key=True,
        related_name="sync_state",
    )
    lease_owner = models.CharField(max_length=64, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    next_sync_at = models.DateTimeField(null=True, blank=True)
    # Set once a sync has listed the workspace's runs to the end; until then every sync keeps
    # listing past runs it already knows (an interrupted first sync resumes where it stopped).
    history_complete = models.BooleanField(default=False)
    last_full_listing_at = models.DateTimeField(null=True, blank=True)
    last_failed_sweep_at = models.DateTimeField(null=True, blank=True)
    # Workers and groups are read by a full sync at most every WORKROOM_SYNC_WORKERS_SECONDS.
    last_workers_read_at = models.DateTimeField(null=True, blank=True)
    last_sync_run = models.ForeignKey(
        SyncRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    last_success_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [
            models.Index(fields=("next_sync_at",), name="mirror_state_next_sync")
        ]

    def __str__(self) -> str:
        return f"Sync state of workspace {self.workspace_id}"


class WebhookRegistration(models.Model):
    """A webhook Workroom registered in Control Room; its signing secret is kept encrypted."""

    workspace = models.ForeignKey(
        Workspace, on_delete=models.DO_NOTHING, related_name="webhook_registrations"
    )
    external_id = models.CharField(max_length=100)
    process_external_id = models.CharField(max_length=100, blank=True)
    endpoint = models.URLField(max_length=500)
    enabled_events = models.JSONField(default=list)
    secret_ciphertext = models.TextField(editable=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("created_at", "id")
        constraints = [
            models.UniqueConstraint(
                fields=("workspace", "external_id"), name="mirror_webhook_ext_unique"
            )
        ]

    def __str__(self) -> str:
        return f"Webhook {self.external_id}"

    def __repr__(self) -> str:
        return f"<WebhookRegistration {self.pk} workspace={self.workspace_id} process={self.process_external_id!r}>"

    @property
    def secret_context(self) -> str:
        return f"webhook:{self.workspace_id}:{self.external_id}"


class WebhookEvent(models.Model):
    """A received webhook delivery; the unique event id drops at-least-once duplicates."""

    workspace = models.ForeignKey(
        Workspace, on_delete=models.DO_NOTHING, related_name="webhook_events"
    )
    event_id = models.CharField(max_length=200)
    event = models.CharField(max_length=100, blank=True)
    process_run_external_id = models.CharField(max_length=100, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    sync_run = models.ForeignKey(
        SyncRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ("-received_at", "-id")
        constraints = [
            models.UniqueConstraint(
                fields=("workspace", "event_id"), name="mirror_webhook_event_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.event or 'event'} {self.event_id}"


class MirrorCheck(models.Model):
    """One comparison of a workspace's mirror with Control Room (`services/check.py`), run by
    a worker for the mirror page. queued → running → done | failed."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    ACTIVE_STATUSES = (Status.QUEUED, Status.RUNNING)

    workspace = models.ForeignKey(
        Workspace, on_delete=models.DO_NOTHING, related_name="+", db_index=False
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.QUEUED
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    items_checked = models.PositiveIntegerField(default=0)
    runs_checked = models.PositiveIntegerField(default=0)
    item_drift = models.PositiveIntegerField(default=0)
    run_drift = models.PositiveIntegerField(default=0)
    # DriftReport.as_json(): rows of (kind, Control Room state, mirror state, count), examples.
    report = models.JSONField(default=dict, blank=True)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [
            models.Index(
                fields=("workspace", "-created_at"), name="mirror_check_ws_created"
            )
        ]

    def __str__(self) -> str:
        return f"Mirror check {self.pk} of workspace {self.workspace_id}"

    @property
    def has_drift(self) -> bool:
        return bool(self.item_drift or self.run_drift)

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE_STATUSES


class FailureOccurrence(models.Model):
    """One time a work item was seen entering `failed`, and what followed (attempt history).

    Opened by the sync when an item turns failed (or fails again with a new
    `state_updated_at`); `left_failed_at` is set when the item leaves failed (a retry, mark
    done); `outcome` once it is known: done, failed again (the next occurrence is opened) or
    gone. `retried_by` is the label of the actor whose retry Control Room accepted (a user,
    "policy <name>"). Dry runs, circuit breakers and success rates read these rows.
    """

    class Outcome(models.TextChoices):
        OPEN = "", "Open"
        DONE = "done", "Done"
        FAILED_AGAIN = "failed_again", "Failed again"
        GONE = "gone", "Gone"

    workspace = models.ForeignKey(
        Workspace, on_delete=models.DO_NOTHING, related_name="+", db_index=False
    )
    work_item = models.ForeignKey(
        WorkItem, on_delete=models.CASCADE, related_name="failure_occurrences"
    )
    number = models.PositiveIntegerField()
    seen_at = models.DateTimeField(default=timezone.now)
    # Control Room's state_updated_at of the failure: tells a new failure from the same one.
    failed_at = models.DateTimeField(null=True, blank=True)
    exception_type = models.CharField(max_length=32, blank=True)
    exception_code = models.CharField(max_length=200, blank=True)
    exception_message = models.TextField(blank=True)
    message_signature = models.CharField(max_length=255, blank=True)
    left_failed_at = models.DateTimeField(null=True, blank=True)
    retried_by = models.CharField(max_length=150, blank=True)
    retried_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(
        max_length=16, choices=Outcome.choices, default=Outcome.OPEN, blank=True
    )
    outcome_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("work_item", "number")
        constraints = [
            models.UniqueConstraint(
                fields=("work_item", "number"), name="mirror_occurrence_item_number"
            )
        ]
        indexes = [
            models.Index(
                fields=("workspace", "-seen_at"), name="mirror_occurrence_ws_seen"
            ),
            models.Index(
                fields=("workspace", "exception_code"),
                condition=Q(outcome=""),
                name="mirror_occurrence_ws_open",
            ),
            # Insights recompute the failures of an hour (dashboard/insights/rollups.py).
            models.Index(
                fields=("workspace", "failed_at"), name="mirror_occurrence_ws_failed"
            ),
        ]

    def __str__(self) -> str:
        return f"Failure {self.number} of item {self.work_item_id}"

    @property
    def is_open(self) -> bool:
        return self.outcome == self.Outcome.OPEN and self.left_failed_at is None
