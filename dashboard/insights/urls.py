# No app_name: url names carry the "insights-" prefix.
from __future__ import annotations

from django.urls import path

from dashboard.insights import views

_PROCESS = "insights/workspaces/<int:workspace_id>/processes/<crid:process_id>/"

urlpatterns = [
    path("insights/", views.overview, name="insights-overview"),
    path(
        "insights/workspaces/<int:workspace_id>/",
        views.workspace,
        name="insights-workspace",
    ),
    path(_PROCESS, views.process, name="insights-process"),
    path(_PROCESS + "value/", views.process_value, name="insights-process-value"),
]
