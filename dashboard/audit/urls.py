# No app_name: url names carry the "audit-" prefix.
from __future__ import annotations

from django.urls import path

from dashboard.audit import views

urlpatterns = [
    path("teams/<slug:team_slug>/audit/", views.event_list, name="audit-event-list"),
]
