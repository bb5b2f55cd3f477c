# No app_name: "home" is global (the nav and the log-in redirect use it).
from __future__ import annotations

from django.urls import path

from dashboard.home import views

urlpatterns = [path("", views.home, name="home")]
