# No app_name: url names carry the "workitems-" prefix.
from __future__ import annotations

from django.urls import path

from dashboard.workitems import collab_views, views

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
    # Working on failures together (before the catch-all action pattern below).
    path(
        "items/<int:item_id>/collab/",
        collab_views.item_collab,
        name="workitems-item-collab",
    ),
    path(
        "items/<int:item_id>/owner/",
        collab_views.item_owner,
        name="workitems-item-owner",
    ),
    path(
        "items/<int:item_id>/review/",
        collab_views.item_review,
        name="workitems-item-review",
    ),
    path(
        "items/<int:item_id>/snooze/",
        collab_views.item_snooze,
        name="workitems-item-snooze",
    ),
    path(
        "items/<int:item_id>/comments/",
        collab_views.item_comment,
        name="workitems-item-comment",
    ),
    path(
        "items/<int:item_id>/payload/history/",
        collab_views.payload_versions,
        name="workitems-item-payload-history",
    ),
    path(
        "items/<int:item_id>/payload/revert/",
        collab_views.payload_revert,
        name="workitems-item-payload-revert",
    ),
    path("items/triage/group/", collab_views.group_action, name="workitems-group"),
    path("items/owner/", collab_views.items_owner, name="workitems-items-owner"),
    path(
        "items/held/<int:pending_id>/undo/",
        collab_views.pending_undo,
        name="workitems-pending-undo",
    ),
    path(
        "notifications/",
        collab_views.notifications,
        name="workitems-notifications",
    ),
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
