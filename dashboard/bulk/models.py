"""Bulk operations on work items: the frozen selection, its chunks and per-item results.

The database holds all the work to do; Celery messages only wake workers up (ARCHITECTURE.md
"Reliability rules"). Claims are conditional UPDATEs and a partial unique index, which behave the
same on SQLite and PostgreSQL (no SELECT ... FOR UPDATE).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from dashboard.mirror.models import WorkItem
from dashboard.workspaces.models import Workspace


class Action(models.TextChoices):
    RETRY = "retry", "Retry"
    MARK_AS_DONE = "mark_as_done", "Mark done"
    DELETE = "delete", "Delete"
    RETRY_WITH_PATCH = "retry_with_patch", "Retry with patch"


# "can be retried", "3 marked done": the words the pages use after an action.
PAST_PARTICIPLES: dict[str, str] = {
    Action.RETRY: "retried",
    Action.MARK_AS_DONE: "marked done",
    Action.DELETE: "deleted",
    Action.RETRY_WITH_PATCH: "patched and retried",
}


class BulkOperation(models.Model):
    """One bulk action on a frozen set of work items.

    State machine (`state`):

        draft ──confirm──▶ queued ──first chunk claimed──▶ running ──▶ succeeded
          │                  │                               │    ├──▶ partially_failed
          │                  └────────cancel─────────────────┤    └──▶ failed
          └─ (a draft never confirmed stays a draft)         └──▶ cancelled

    - draft: the preview. Its BulkItems are frozen (`pending` or `ineligible` with a reason);
      nothing is claimed, nothing is sent.
    - queued: confirmed with a reason; chunks written and enqueued after commit, each claims
      its items (`queued`) when it first runs (an approved operation's are claimed at
      confirm). If the broker was down the chunks stay queued and the sweeper enqueues them.
    - running: at least one chunk was claimed by a worker.
    - succeeded: every chunk finished and no item failed (skipped items are not failures).
    - partially_failed: some items were applied, some failed.
    - failed: items failed and none was applied.
    - cancelled: cancel was asked; chunks not started were not run, their items are `cancelled`.
    The terminal transition is a conditional UPDATE from queued/running, so exactly one worker
    finishes the operation (and writes its audit event).
    """

    class State(models.TextChoices):
        DRAFT = "draft", "Draft (preview)"
        AWAITING_APPROVAL = "awaiting_approval", "Waiting for approval"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        PARTIALLY_FAILED = "partially_failed", "Partially failed"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    ACTIVE_STATES = (State.QUEUED, State.RUNNING)
    TERMINAL_STATES = (
        State.SUCCEEDED,
        State.PARTIALLY_FAILED,
        State.FAILED,
        State.CANCELLED,
    )

    class Selection(models.TextChoices):
        IDS = "ids", "Selected items"
        FILTER = "filter", "All items matching a filter"

    action = models.CharField(max_length=16, choices=Action.choices)
    state = models.CharField(
        max_length=20, choices=State.choices, default=State.DRAFT, db_index=True
    )
    selection = models.CharField(max_length=8, choices=Selection.choices)
    # The explorer's query string ("all matching") — never the ids themselves.
    filter_query = models.CharField(max_length=2000, blank=True)
    # The ids the operator ticked (explicit selections only; at most a few hundred).
    selected_ids = models.JSONField(default=list, blank=True)
    team_ids = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_by_label = models.CharField(max_length=150, blank=True)
    reason = models.TextField(blank=True)
    # A retry leaves items the team reviewed as "verified" alone unless this is ticked.
    include_verified = models.BooleanField(default=False)
    # Retry with patch: the JSON merge patch (RFC 7396) or JSON Patch (RFC 6902) applied to
    # every item's payload before it is retried.
    patch = models.JSONField(null=True, blank=True)
    patch_kind = models.CharField(max_length=16, blank=True)
    total = models.PositiveIntegerField(default=0)  # eligible at preview
    ineligible = models.PositiveIntegerField(default=0)
    queued_count = models.PositiveIntegerField(default=0)  # to claim, at confirm
    done_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0)
    failed_count = models.PositiveIntegerField(default=0)
    cancelled_count = models.PositiveIntegerField(default=0)
    # Drift at confirm: how the selection recomputed then differs from the frozen preview.
    drift_added = models.PositiveIntegerField(default=0)
    drift_removed = models.PositiveIntegerField(default=0)
    drift_changed = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    cancelled_by_label = models.CharField(max_length=150, blank=True)
    # Why Workroom cancelled it by itself (e.g. its creator lost the right to act); shown on
    # the operation page and on its cancelled items.
    cancel_reason = models.CharField(max_length=300, blank=True)
    # Two-person approval: who let a large mark done / delete start (never its creator).
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    approved_by_label = models.CharField(max_length=150, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [
            models.Index(fields=("created_by", "-created_at"), name="bulk_op_creator")
        ]

    def __str__(self) -> str:
        return f"Bulk {self.get_action_display().lower()} #{self.pk}"

    @property
    def action_done(self) -> str:
        """The action as a past participle ("retried", "marked done", "deleted")."""
        return PAST_PARTICIPLES.get(self.action, self.action)

    @property
    def is_active(self) -> bool:
        return self.state in self.ACTIVE_STATES

    @property
    def is_terminal(self) -> bool:
        return self.state in self.TERMINAL_STATES

    @property
    def processed(self) -> int:
        return (
            self.done_count
            + self.skipped_count
            + self.failed_count
            + self.cancelled_count
        )

    @property
    def percent(self) -> int:
        if not self.queued_count:
            return 100 if self.is_terminal else 0
        return min(100, int(100 * self.processed / self.queued_count))


class BulkChunk(models.Model):
    """Up to `WORKROOM_BULK_CHUNK_SIZE` items of one workspace: one batch call, one Celery task.

    State: queued → running → done | failed | cancelled. A worker claims a chunk with a
    conditional UPDATE (queued and due, or running with an expired lease) that also bumps
    `attempts`; a delivery that finds nothing to claim does nothing. A 429 / unreachable
    Control Room puts the chunk back to queued (its attempt not counted) with `not_before`;
    after `WORKROOM_BULK_MAX_ATTEMPTS` deliveries that died mid-way the chunk is failed.
    """

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    operation = models.ForeignKey(
        BulkOperation, on_delete=models.CASCADE, related_name="chunks"
    )
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    seq = models.PositiveIntegerField()
    size = models.PositiveIntegerField(default=0)
    state = models.CharField(max_length=12, choices=State.choices, default=State.QUEUED)
    not_before = models.DateTimeField(default=timezone.now)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    lease_owner = models.CharField(max_length=64, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    transient_retries = models.PositiveIntegerField(default=0)
    rate_limited = models.PositiveIntegerField(default=0)
    batch_calls = models.PositiveIntegerField(default=0)
    # The first and last BulkItem pk of its items when they are claimed by the chunk's
    # first delivery (pending → queued): a confirm then writes chunks, not 100,000 item rows.
    # Null: its items were claimed when it was written (an approved operation).
    first_item_id = models.BigIntegerField(null=True, blank=True)
    last_item_id = models.BigIntegerField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ("operation", "seq")
        constraints = [
            models.UniqueConstraint(
                fields=("operation", "seq"), name="bulk_chunk_op_seq_unique"
            )
        ]
        indexes = [
            models.Index(fields=("state", "not_before"), name="bulk_chunk_state_due")
        ]

    def __str__(self) -> str:
        return f"Chunk {self.seq} of bulk operation {self.operation_id} ({self.state})"


class BulkItem(models.Model):
    """One work item of an operation: what it was at preview time, and what happened to it.

    State: pending (draft, or confirmed and waiting for its chunk) | ineligible (never sent;
    `reason` says why) → queued (claimed by its chunk) → in_flight (about to be / being sent) → done | skipped | failed | cancelled.
    At most one BulkItem per work item may be queued or in flight across ALL operations (partial
    unique index): that claim is what stops two operators from applying an action twice. An item
    found `in_flight` by a later delivery may or may not have been sent: it is re-read from
    Control Room before anything is sent again.
    """

    class State(models.TextChoices):
        PENDING = "pending", "Pending (preview)"
        INELIGIBLE = "ineligible", "Not eligible"
        QUEUED = "queued", "Queued"
        IN_FLIGHT = "in_flight", "Sending"
        DONE = "done", "Done"
        SKIPPED = "skipped", "Skipped"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    CLAIM_STATES = (State.QUEUED, State.IN_FLIGHT)

    # No single-column indexes on operation and chunk: the (operation, state) and
    # (chunk, state) indexes lead with them, and every index is written again on each of an
    # item's state changes (three per item of a 100,000-item operation).
    operation = models.ForeignKey(
        BulkOperation, on_delete=models.CASCADE, related_name="items", db_index=False
    )
    chunk = models.ForeignKey(
        BulkChunk,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="items",
        db_index=False,
    )
    work_item = models.ForeignKey(
        WorkItem, on_delete=models.CASCADE, related_name="bulk_items"
    )
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    external_id = models.CharField(max_length=100)
    process_id = models.BigIntegerField(null=True)
    process_name = models.CharField(max_length=300, blank=True)
    preview_state = models.CharField(max_length=32)
    preview_state_updated_at = models.DateTimeField(null=True, blank=True)
    exception_type = models.CharField(max_length=32, blank=True)
    exception_code = models.CharField(max_length=200, blank=True)
    state = models.CharField(
        max_length=12, choices=State.choices, default=State.PENDING
    )
    reason = models.CharField(max_length=300, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Retry with patch: the payload to send (computed at preview from the mirror's payload)
    # and Control Room's state_updated_at once it was accepted (the retry is judged on it).
    patched_payload = models.JSONField(null=True, blank=True)
    patched_seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("operation", "id")
        constraints = [
            models.UniqueConstraint(
                fields=("work_item",),
                condition=Q(state__in=("queued", "in_flight")),
                name="bulk_item_one_active_claim",
            ),
            models.UniqueConstraint(
                fields=("operation", "work_item"), name="bulk_item_op_item_unique"
            ),
        ]
        indexes = [
            models.Index(fields=("operation", "state"), name="bulk_item_op_state"),
            models.Index(fields=("chunk", "state"), name="bulk_item_chunk_state"),
        ]

    def __str__(self) -> str:
        return (
            f"{self.external_id} in bulk operation {self.operation_id} ({self.state})"
        )

    @classmethod
    def held(cls) -> models.QuerySet[BulkItem]:
        """Items an unfinished operation holds: claimed, or confirmed and waiting for their
        chunk to claim them (pending in a queued or running operation)."""
        return cls.objects.filter(
            Q(state__in=cls.CLAIM_STATES)
            | Q(
                state=cls.State.PENDING,
                operation__state__in=BulkOperation.ACTIVE_STATES,
            )
        )

    @property
    def result_state(self) -> str:
        """The state a confirmed operation's results show: an item its chunk has not
        claimed yet is queued."""
        return self.State.QUEUED if self.state == self.State.PENDING else self.state

    @property
    def result_state_display(self) -> str:
        return str(self.State(self.result_state).label)


class BulkThrottle(models.Model):
    """Per-workspace send schedule shared by all operations (WORKROOM_BULK_MAX_ITEMS_PER_MINUTE):
    `next_free_at` is when the next chunk of this workspace may be sent."""

    workspace = models.OneToOneField(
        Workspace, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    next_free_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Bulk throttle of workspace {self.workspace_id}"


class ApprovalPolicy(models.Model):
    """A team's two-person rule: a bulk mark done or delete of more than `threshold` items
    waits until another operator or admin approves it (0 = never)."""

    team = models.OneToOneField(
        "accounts.Team", on_delete=models.CASCADE, related_name="bulk_approval"
    )
    threshold = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Approval above {self.threshold} items ({self.team_id})"
