"""Top-level URLs: authentication, health, and each app's pages."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.urls import include, path, register_converter

from dashboard import views
from dashboard.core.converters import ControlRoomIdConverter

register_converter(ControlRoomIdConverter, "crid")

_lockout_policy = {
    "failure_limit": settings.AXES_FAILURE_LIMIT,
    "cooloff": settings.AXES_COOLOFF_TIME,
}

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path(
        "login/",
        auth_views.LoginView.as_view(
            redirect_authenticated_user=True, extra_context=_lockout_policy
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "password/change/",
        auth_views.PasswordChangeView.as_view(),
        name="password_change",
    ),
    path(
        "password/change/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("", include("dashboard.home.urls")),
    path("", include("dashboard.accounts.urls")),
    path("", include("dashboard.workspaces.urls")),
    path("", include("dashboard.audit.urls")),
    path("", include("dashboard.mirror.urls")),
    path("", include("dashboard.workitems.urls")),
    path("", include("dashboard.processes.urls")),
    path("", include("dashboard.bulk.urls")),
    path("", include("dashboard.fleet.urls")),
    path("", include("dashboard.insights.urls")),
    path("", include("dashboard.alerts.urls")),
    path("", include("dashboard.api.urls")),
    path("", include("dashboard.policies.urls")),
]
