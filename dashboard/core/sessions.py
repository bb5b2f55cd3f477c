"""An absolute session lifetime on top of Django's idle timeout (ASVS 7.3.2).

`SESSION_COOKIE_AGE` with `SESSION_SAVE_EVERY_REQUEST` ends a session after some idle time, but
an active session would live forever; this ends it a fixed time after the log-in, whatever
the activity.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse

LOGIN_TIME_KEY = "workroom_login_at"


def remember_login_time(
    sender: Any, request: HttpRequest, user: Any, **kwargs: Any
) -> None:
    """`user_logged_in` receiver: stamp the new session with the time of the log-in."""
    request.session[LOGIN_TIME_KEY] = int(time.time())


class AbsoluteSessionLifetimeMiddleware:
    """Log out a session older than `WORKROOM_SESSION_MAX_HOURS` since its log-in."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            started = request.session.get(LOGIN_TIME_KEY)
            limit = settings.WORKROOM_SESSION_MAX_HOURS * 3600
            if started is None:
                # A session from before this check existed: start its clock now.
                request.session[LOGIN_TIME_KEY] = int(time.time())
            elif time.time() - started > limit:
                logout(request)
                messages.info(request, "Your session has expired. Please log in again.")
        return self.get_response(request)
