"""Per-request activation of the reader's time zone (accounts.timezones)."""

from __future__ import annotations

import time
import zoneinfo
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from dashboard.accounts.timezones import zone_name_for

SESSION_KEY = "_workroom_tz"
# The zone is kept in the session (saved on every request anyway) and looked up again this
# often, so a team admin's change reaches the other members within a minute at no query cost.
RECHECK_SECONDS = 60


def remember_zone(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    """`user_logged_in` receiver: look the zone up once, at log-in."""
    request.session[SESSION_KEY] = [zone_name_for(user), time.time()]


def forget_zone(request: HttpRequest) -> None:
    """Look the zone up again on the next request (after the reader changed it)."""
    request.session.pop(SESSION_KEY, None)


class TimezoneMiddleware:
    """Activate the signed-in person's zone for the request, and deactivate it after."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            timezone.activate(zoneinfo.ZoneInfo(self._zone_name(request)))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()

    @staticmethod
    def _zone_name(request: HttpRequest) -> str:
        cached = request.session.get(SESSION_KEY)
        now = time.time()
        if (
            isinstance(cached, list)
            and len(cached) == 2
            and now - cached[1] < RECHECK_SECONDS
        ):
            return str(cached[0])
        name = zone_name_for(request.user)
        request.session[SESSION_KEY] = [name, now]
        return name
