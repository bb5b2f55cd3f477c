from __future__ import annotations

from django.urls import path

from dashboard.api import views
from dashboard.api.api import api

urlpatterns = [
    path("api/docs", views.api_docs, name="api-docs"),
    path("api/", api.urls),
    path("teams/<slug:slug>/tokens/", views.token_list, name="api-tokens"),
    path(
        "teams/<slug:slug>/tokens/<int:token_id>/revoke/",
        views.token_revoke,
        name="api-token-revoke",
    ),
]
