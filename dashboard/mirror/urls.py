# No app_name: url names carry the "mirror-" prefix.
from __future__ import annotations

from django.urls import path

from dashboard.mirror import views

urlpatterns = [
    path(
        "workspaces/<int:workspace_id>/mirror/",
        views.workspace_overview,
        name="mirror-workspace-overview",
    ),
    path(
        "workspaces/<int:workspace_id>/mirror/sync/",
        views.sync_now,
        name="mirror-sync-now",
    ),
    path(
        "workspaces/<int:workspace_id>/mirror/check/",
        views.mirror_check_start,
        name="mirror-check",
    ),
    path(
        "workspaces/<int:workspace_id>/mirror/webhooks/",
        views.webhooks_register,
        name="mirror-webhooks-register",
    ),
    path(
        "workspaces/<int:workspace_id>/mirror/webhooks/remove/",
        views.webhooks_unregister,
        name="mirror-webhooks-unregister",
    ),
    path(
        "hooks/<uuid:workspace_uid>/",
        views.webhook_receive,
        name="mirror-webhook-receive",
    ),
]
