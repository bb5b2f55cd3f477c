# No app_name: url names carry the "alerts-" prefix.
from __future__ import annotations

from django.urls import path

from dashboard.alerts import views

urlpatterns = [
    path("alerts/", views.alerts_home, name="alerts-home"),
    path("teams/<slug:team_slug>/alerts/", views.rule_list, name="alerts-rule-list"),
    path("teams/<slug:team_slug>/alerts/new/", views.rule_new, name="alerts-rule-new"),
    path(
        "teams/<slug:team_slug>/alerts/history/", views.history, name="alerts-history"
    ),
    path(
        "teams/<slug:team_slug>/alerts/channels/",
        views.channel_list,
        name="alerts-channel-list",
    ),
    path(
        "teams/<slug:team_slug>/alerts/digest/",
        views.digest_settings,
        name="alerts-digest-settings",
    ),
    path("alerts/rules/<int:rule_id>/", views.rule_detail, name="alerts-rule-detail"),
    path("alerts/rules/<int:rule_id>/edit/", views.rule_edit, name="alerts-rule-edit"),
    path("alerts/rules/<int:rule_id>/mute/", views.rule_mute, name="alerts-rule-mute"),
    path(
        "alerts/rules/<int:rule_id>/delete/",
        views.rule_delete,
        name="alerts-rule-delete",
    ),
    path(
        "alerts/channels/<int:channel_id>/",
        views.channel_edit,
        name="alerts-channel-edit",
    ),
    path(
        "alerts/channels/<int:channel_id>/rotate/",
        views.channel_rotate,
        name="alerts-channel-rotate",
    ),
    path(
        "alerts/channels/<int:channel_id>/test/",
        views.channel_test,
        name="alerts-channel-test",
    ),
    path(
        "alerts/channels/<int:channel_id>/delete/",
        views.channel_delete,
        name="alerts-channel-delete",
    ),
    path("alerts/preferences/", views.preferences, name="alerts-preferences"),
]
