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
