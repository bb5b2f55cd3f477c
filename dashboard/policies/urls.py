# No app_name: url names carry the "policies-" prefix.
from __future__ import annotations

from django.urls import path

from dashboard.policies import views

urlpatterns = [
    path("policies/", views.policy_list, name="policies-list"),
    path("teams/<slug:team_slug>/policies/new/", views.policy_new, name="policies-new"),
    path("policies/<int:policy_id>/", views.policy_detail, name="policies-detail"),
    path("policies/<int:policy_id>/edit/", views.policy_edit, name="policies-edit"),
    path("policies/<int:policy_id>/state/", views.policy_state, name="policies-state"),
]
