# No app_name: url names carry the "bulk-" prefix.
from __future__ import annotations

from django.urls import path

from dashboard.bulk import views

urlpatterns = [
    path("bulk/", views.operation_list, name="bulk-list"),
    path("bulk/new/", views.operation_new, name="bulk-new"),
    path("bulk/<int:op_id>/", views.operation_detail, name="bulk-detail"),
    path("bulk/<int:op_id>/confirm/", views.operation_confirm, name="bulk-confirm"),
    path("bulk/<int:op_id>/progress/", views.operation_progress, name="bulk-progress"),
    path("bulk/<int:op_id>/items/", views.operation_items, name="bulk-items"),
    path("bulk/<int:op_id>/cancel/", views.operation_cancel, name="bulk-cancel"),
    path("bulk/<int:op_id>/discard/", views.operation_discard, name="bulk-discard"),
    path("bulk/<int:op_id>/approve/", views.operation_approve, name="bulk-approve"),
    path("bulk/<int:op_id>/reject/", views.operation_reject, name="bulk-reject"),
    path(
        "bulk/teams/<slug:team_slug>/approval/",
        views.approval_policy,
        name="bulk-approval-policy",
    ),
]
