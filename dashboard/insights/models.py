"""Rollups of the mirror for the insights pages, and the value a team gives a process's work.

The rollups are hourly buckets (UTC hour starts) per workspace and process, maintained after
every sync by `rollups.update_workspace` from a per-workspace `Cursor` (the last mirror rows
it looked at), so a page sums a few hundred rows instead of grouping the whole mirror.
Each bucket is recomputed from the mirror rows of that hour (never incremented): updating
twice gives the same rollups.

`process` is an integer reference without a database constraint: the mirror deletes a
workspace's processes with set-based DELETEs (mirror.signals) that a constraint would block;
the rows go with their workspace (CASCADE, a single DELETE per table).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from dashboard.mirror.models import Process
from dashboard.workspaces.models import Workspace


class _Bucket(models.Model):
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    process = models.ForeignKey(
        Process, on_delete=models.DO_NOTHING, related_name="+", db_constraint=False
    )
    hour = models.DateTimeField()  # UTC start of the hour

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{type(self).__name__} {self.workspace_id}/{self.process_id} {self.hour:%Y-%m-%d %H:00}"


class HourRollup(_Bucket):
    """Work done and failures that began in one hour.

    `done`: items whose state is done with `state_updated_at` in the hour. `failed`: failure
    occurrences (each time an item entered failed) that began in the hour; `retried_done` /
    `retried_failed`: of those, the ones retried whose retry ended done / failed again."""

    done = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    retried_done = models.PositiveIntegerField(default=0)
    retried_failed = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=("workspace", "process", "hour"), name="insights_hour_unique"
            )
        ]
        indexes = [models.Index(fields=("workspace", "hour"), name="insights_hour_ws")]


class CodeRollup(_Bucket):
    """`HourRollup`'s failure columns per exception type and code (the Pareto, retry
    success per code)."""

    exception_type = models.CharField(max_length=32, blank=True)
    exception_code = models.CharField(max_length=200, blank=True)
    failed = models.PositiveIntegerField(default=0)
    retried_done = models.PositiveIntegerField(default=0)
    retried_failed = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=(
                    "workspace",
                    "process",
                    "hour",
                    "exception_type",
                    "exception_code",
                ),
                name="insights_code_unique",
            )
        ]
        indexes = [models.Index(fields=("workspace", "hour"), name="insights_code_ws")]


class DurationRollup(_Bucket):
    """A histogram of durations: `count` durations fell in bin `bin` (log-spaced,
    `histogram.py`). Kinds: run (an ended process run's duration, in the hour it was
    created) and resolution (an item's first failure → done, in the hour it turned done)."""

    class Kind(models.TextChoices):
        RUN = "run", "Run duration"
        RESOLUTION = "resolution", "First failure to done"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    bin = models.SmallIntegerField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=("workspace", "process", "hour", "kind", "bin"),
                name="insights_duration_unique",
            )
        ]
        indexes = [
            models.Index(fields=("workspace", "hour"), name="insights_duration_ws")
        ]


class Cursor(models.Model):
    """How far the rollups of a workspace have read the mirror (ids of the last rows seen),
    and the lease that makes one update at a time (`lib.leases`)."""

    workspace = models.OneToOneField(
        Workspace, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    item_id = models.BigIntegerField(default=0)
    change_id = models.BigIntegerField(default=0)
    occurrence_id = models.BigIntegerField(default=0)
    run_id = models.BigIntegerField(default=0)
    # When the last update started: runs seen by a sync after it are looked at again.
    checked_at = models.DateTimeField(null=True, blank=True)
    lease_owner = models.CharField(max_length=64, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Insights cursor of workspace {self.workspace_id}"


class ProcessValue(models.Model):
    """What a team says one done work item of a process is worth, and its SLA (Control Room
    has no such field). Keyed by the Control Room process id, so it outlives a re-sync."""

    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    process_external_id = models.CharField(max_length=100)
    value_per_item = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True
    )
    currency = models.CharField(max_length=12, blank=True)
    sla_hours = models.PositiveIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=("workspace", "process_external_id"),
                name="insights_value_unique",
            )
        ]

    def __str__(self) -> str:
        return f"Value of process {self.process_external_id}"
