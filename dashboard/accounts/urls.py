# No app_name: url names carry the app prefix.
from __future__ import annotations

from django.urls import path

from dashboard.accounts import views

urlpatterns = [
    path("preferences/", views.preferences, name="accounts-preferences"),
    path("teams/new/", views.team_create, name="accounts-team-create"),
    path("teams/<slug:team_slug>/", views.team_detail, name="accounts-team-detail"),
    path(
        "teams/<slug:team_slug>/time-zone/",
        views.team_time_zone,
        name="accounts-team-time-zone",
    ),
    path(
        "teams/<slug:team_slug>/members/",
        views.team_members,
        name="accounts-team-members",
    ),
    path(
        "teams/<slug:team_slug>/members/<int:membership_id>/role/",
        views.member_role,
        name="accounts-member-role",
    ),
    path(
        "teams/<slug:team_slug>/members/<int:membership_id>/remove/",
        views.member_remove,
        name="accounts-member-remove",
    ),
    path(
        "teams/<slug:team_slug>/invitations/",
        views.invitation_create,
        name="accounts-invitation-create",
    ),
    path(
        "teams/<slug:team_slug>/invitations/<int:invitation_id>/revoke/",
        views.invitation_revoke,
        name="accounts-invitation-revoke",
    ),
    path(
        "invitations/<str:token>/",
        views.invitation_accept,
        name="accounts-invitation-accept",
    ),
]
