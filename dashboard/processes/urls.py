# No app_name: url names carry the "processes-" prefix.
from __future__ import annotations

from django.urls import path

from dashboard.processes import views

# <crid:…> (registered in dashboard/urls.py): any id Control Room sends round-trips.
_RUN = "workspaces/<int:workspace_id>/runs/<crid:run_id>/"
_STEP = _RUN + "steps/<crid:step_run_id>/"

urlpatterns = [
    path("processes/", views.overview, name="processes-overview"),
    path(
        "workspaces/<int:workspace_id>/processes/",
        views.workspace_overview,
        name="processes-workspace",
    ),
    path(
        "workspaces/<int:workspace_id>/processes/<crid:process_id>/start/",
        views.run_start,
        name="processes-start",
    ),
    path("runs/", views.run_list, name="processes-run-list"),
    path(_RUN, views.run_detail, name="processes-run-detail"),
    path(_RUN + "stop/", views.run_stop, name="processes-run-stop"),
    path(_STEP, views.steprun_detail, name="processes-steprun-detail"),
    path(
        _STEP + "artifacts/<crid:artifact_id>/",
        views.artifact_download,
        name="processes-artifact-download",
    ),
]
