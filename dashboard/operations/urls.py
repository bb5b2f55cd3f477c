# No app_name: url names carry the "operations-" prefix.
from __future__ import annotations

from django.urls import path

from dashboard.operations import views

urlpatterns = [
    path("items/", views.workitem_list, name="operations-item-list"),
    path("items/export.csv", views.workitem_export, name="operations-item-export"),
    path("items/triage/", views.failure_triage, name="operations-triage"),
    path("items/views/", views.savedview_create, name="operations-savedview-create"),
    path(
        "items/views/<int:view_id>/delete/",
        views.savedview_delete,
        name="operations-savedview-delete",
    ),
    path("items/<int:item_id>/", views.workitem_detail, name="operations-item-detail"),
    path(
        "items/<int:item_id>/delete/confirm/",
        views.workitem_delete_confirm,
        name="operations-item-delete-confirm",
    ),
    path(
        "items/<int:item_id>/payload/",
        views.workitem_payload,
        name="operations-item-payload",
    ),
    path(
        "items/<int:item_id>/files/",
        views.workitem_upload,
        name="operations-item-upload",
    ),
    path(
        "items/<int:item_id>/<slug:action>/",
        views.workitem_action,
        name="operations-item-action",
    ),
    path(
        "processes/<int:process_id>/schema/",
        views.process_schema,
        name="operations-process-schema",
    ),
]
