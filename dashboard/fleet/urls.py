# No app_name: url names carry the "fleet-" prefix.
from __future__ import annotations

from django.urls import path

from dashboard.fleet import views

_WS = "workspaces/<int:workspace_id>/"

urlpatterns = [
    path("workers/", views.workers_all, name="fleet-workers"),
    path(_WS + "workers/", views.workers_workspace, name="fleet-workspace-workers"),
    path(_WS + "workers/refresh/", views.workers_refresh, name="fleet-workers-refresh"),
    path(
        _WS + "workers/<crid:worker_id>/",
        views.worker_change,
        name="fleet-worker-change",
    ),
    path(_WS + "worker-groups/", views.groups, name="fleet-groups"),
    path(
        _WS + "worker-groups/<crid:group_id>/rename/",
        views.group_rename,
        name="fleet-group-rename",
    ),
    path(
        _WS + "link-tokens/",
        views.workspace_token_create,
        name="fleet-workspace-token-create",
    ),
    path(
        _WS + "worker-groups/<crid:group_id>/delete/",
        views.group_delete,
        name="fleet-group-delete",
    ),
    path(
        _WS + "worker-groups/<crid:group_id>/workers/",
        views.group_membership,
        name="fleet-group-membership",
    ),
    path(
        _WS + "worker-groups/<crid:group_id>/link-tokens/",
        views.token_create,
        name="fleet-token-create",
    ),
    path(
        _WS + "worker-groups/<crid:group_id>/link-tokens/<crid:token_id>/",
        views.token_update,
        name="fleet-token-update",
    ),
    path(
        _WS + "worker-groups/<crid:group_id>/link-tokens/<crid:token_id>/delete/",
        views.token_delete,
        name="fleet-token-delete",
    ),
    path(_WS + "task-packages/", views.packages, name="fleet-packages"),
    path(
        _WS + "task-packages/<int:package_id>/download/",
        views.package_download,
        name="fleet-package-download",
    ),
    path(
        _WS + "task-packages/<int:package_id>/delete/",
        views.package_delete,
        name="fleet-package-delete",
    ),
    path(_WS + "assets/", views.assets, name="fleet-assets"),
    path(_WS + "assets/<crid:asset_id>/", views.asset_detail, name="fleet-asset"),
    path(
        _WS + "assets/<crid:asset_id>/delete/",
        views.asset_delete,
        name="fleet-asset-delete",
    ),
]
