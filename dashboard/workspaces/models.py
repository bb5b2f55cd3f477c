"""Control Room workspaces a team connects, with their encrypted API keys."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import models
from django.utils import timezone

from dashboard.accounts.models import Team


def default_sync_interval() -> int:
    return settings.WORKROOM_DEFAULT_SYNC_INTERVAL


@dataclass(frozen=True)
class Feature:
    """A Workroom feature and the key permissions (probe keys) it needs."""

    slug: str
    label: str
    needs: tuple[str, ...]


# Probe keys come from ControlRoomClient.probe_permissions(); CR names them "Group.name".
FEATURES: tuple[Feature, ...] = (
    Feature("read_runs", "Read processes and runs", ("read_processes", "read_runs")),
    Feature("read_items", "Read work items", ("read_work_items",)),
    Feature(
        "item_actions", "Retry, mark done, delete work items", ("write_work_items",)
    ),
    Feature("edit_payload", "Edit work-item payloads", ("write_work_items",)),
    Feature("upload", "Upload work-item files", ("write_work_items",)),
    Feature("start_stop", "Start and stop process runs", ("trigger_processes",)),
    Feature(
        "run_outputs",
        "Read run outputs (artifacts, console, events)",
        ("read_run_outputs",),
    ),
    Feature("webhooks", "Webhooks", ("read_webhooks", "write_webhooks")),
    Feature("workers", "Read workers and worker groups", ("read_workers",)),
    Feature(
        "manage_workers", "Manage worker groups and link tokens", ("write_workers",)
    ),
    Feature(
        "task_packages",
        "Task packages (download; upload and delete)",
        ("read_task_packages", "write_task_packages"),
    ),
    Feature("assets", "Read assets", ("read_asset_storage_assets",)),
    Feature(
        "manage_assets",
        "Create, edit and delete assets",
        ("write_asset_storage_assets",),
    ),
)

PERMISSION_NAMES: dict[str, str] = {
    "read_processes": "Processes.read_processes",
    "read_runs": "Processes.read_runs",
    "read_work_items": "Processes.read_work_items",
    "write_work_items": "Processes.write_work_items",
    "trigger_processes": "Processes.trigger_processes",
    "read_run_outputs": "Processes.read_run_outputs",
    "read_webhooks": "Webhooks.read_webhooks",
    "write_webhooks": "Webhooks.write_webhooks",
    "read_workers": "Workers.read_workers",
    "write_workers": "Workers.write_workers",
    "read_task_packages": "Tasks.read_task_packages",
    "write_task_packages": "Tasks.write_task_packages",
    "read_asset_storage_assets": "Assets.read_asset_storage_assets",
    "write_asset_storage_assets": "Assets.write_asset_storage_assets",
}


@dataclass(frozen=True)
class FeatureStatus:
    feature: Feature
    allowed: bool | None  # None: the probe could not tell
    missing: tuple[str, ...]  # CR permission names the key lacks
    unknown: tuple[str, ...]


class Workspace(models.Model):
    """A Control Room workspace; the API key is stored only as ciphertext.

    The ciphertext is bound to `uid` (the encryption context), so copying it into
    another row makes it undecryptable. `api_key_hint` holds the last 4 characters.
    """

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="workspaces")
    name = models.CharField(max_length=100)
    base_url = models.URLField(max_length=300)
    cr_workspace_id = models.CharField("Control Room workspace id", max_length=100)
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    api_key_ciphertext = models.TextField(editable=False)
    api_key_hint = models.CharField(max_length=8, editable=False)
    api_key_key_id = models.CharField(max_length=64, editable=False)
    enabled = models.BooleanField(default=True)
    permissions = models.JSONField(default=dict, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    needs_attention = models.BooleanField(default=False)
    sync_interval_seconds = models.PositiveIntegerField(default=default_sync_interval)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("team", "name", "id")
        constraints = [
            models.UniqueConstraint(
                fields=("team", "cr_workspace_id"), name="workspace_team_cr_id_unique"
            )
        ]

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"<Workspace {self.pk} {self.name!r} team={self.team_id}>"

    @property
    def key_fingerprint(self) -> str:
        return f"••••{self.api_key_hint}"

    def feature_table(self) -> list[FeatureStatus]:
        """Return, per Workroom feature, whether the stored probe result allows it."""
        rows = []
        for feature in FEATURES:
            values = {need: self.permissions.get(need) for need in feature.needs}
            missing = tuple(
                PERMISSION_NAMES[n] for n, v in values.items() if v is False
            )
            unknown = tuple(PERMISSION_NAMES[n] for n, v in values.items() if v is None)
            allowed = False if missing else (None if unknown else True)
            rows.append(FeatureStatus(feature, allowed, missing, unknown))
        return rows

    def why_not(self, feature_slug: str) -> str:
        """Return why Workroom may not use this workspace for the feature ("" = it may).

        The one answer to "can this key do X, and if not, why": the enabled switch and the
        stored permission probe (a permission the probe could not tell is not a refusal;
        Control Room has the last word and its 403 is described when it comes).
        """
        if not self.enabled:
            return "The workspace is disabled."
        for row in self.feature_table():
            if row.feature.slug == feature_slug and row.allowed is False:
                return f"The workspace's API key lacks {', '.join(row.missing)}."
        return ""

    def allows(self, feature_slug: str) -> bool:
        """Return True if the last probe showed the key allows the feature."""
        return any(
            row.allowed is True
            for row in self.feature_table()
            if row.feature.slug == feature_slug
        )
