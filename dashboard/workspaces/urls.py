# No app_name: url names carry the "workspaces-" prefix.
from __future__ import annotations

from django.urls import path

from dashboard.workspaces import views

urlpatterns = [
    path(
        "teams/<slug:team_slug>/workspaces/",
        views.workspace_list,
        name="workspaces-list",
    ),
    path(
        "teams/<slug:team_slug>/workspaces/new/",
        views.workspace_add,
        name="workspaces-add",
    ),
    path(
        "workspaces/<int:workspace_id>/",
        views.workspace_detail,
        name="workspaces-detail",
    ),
    path(
        "workspaces/<int:workspace_id>/key/",
        views.workspace_replace_key,
        name="workspaces-replace-key",
    ),
    path(
        "workspaces/<int:workspace_id>/enabled/",
        views.workspace_set_enabled,
        name="workspaces-set-enabled",
    ),
    path(
        "workspaces/<int:workspace_id>/reprobe/",
        views.workspace_reprobe,
        name="workspaces-reprobe",
    ),
    path(
        "workspaces/<int:workspace_id>/delete/",
        views.workspace_delete,
        name="workspaces-delete",
    ),
]
