# No app_name: url names carry the "workitems-" prefix.
from __future__ import annotations

from django.urls import path

from dashboard.workitems import views

urlpatterns = [
    path("items/", views.workitem_list, name="workitems-item-list"),
    path("items/export.csv", views.workitem_export, name="workitems-item-export"),
    path("items/triage/", views.failure_triage, name="workitems-triage"),
    path("items/views/", views.savedview_create, name="workitems-savedview-create"),
    path(
        "items/views/<int:view_id>/delete/",
        views.savedview_delete,
        name="workitems-savedview-delete",
    ),
    path("items/<int:item_id>/", views.workitem_detail, name="workitems-item-detail"),
    path(
        "items/<int:item_id>/delete/confirm/",
        views.workitem_delete_confirm,
        name="workitems-item-delete-confirm",
    ),
    path(
        "items/<int:item_id>/payload/",
        views.workitem_payload,
        name="workitems-item-payload",
    ),
    path(
        "items/<int:item_id>/files/",
        views.workitem_upload,
        name="workitems-item-upload",
    ),
    path(
        "items/<int:item_id>/<slug:action>/",
        views.workitem_action,
        name="workitems-item-action",
    ),
    path(
        "processes/<int:process_id>/schema/",
        views.process_schema,
        name="workitems-process-schema",
    ),
]
