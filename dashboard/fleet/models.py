"""What Workroom must remember itself because the v1 API cannot list it: task packages.

The v1 API creates, uploads, links and deletes a task package by id but has no list and no
read of one, so the packages created through Workroom are recorded here (name, size, digest).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from dashboard.workspaces.models import Workspace


class TaskPackage(models.Model):
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="task_packages"
    )
    external_id = models.CharField(max_length=100)
    name = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    uploaded_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("name", "id")
        constraints = [
            models.UniqueConstraint(
                fields=("workspace", "external_id"), name="fleet_package_ext_unique"
            )
        ]

    def __str__(self) -> str:
        return self.name
