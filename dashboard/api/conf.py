"""The API's settings, read once in dashboard/settings.py."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings


def rate_limit() -> int:
    """Requests one token may make per minute (0: unlimited)."""
    return int(settings.WORKROOM_API_RATE_LIMIT)


def idempotency_ttl() -> timedelta:
    return timedelta(hours=int(settings.WORKROOM_API_IDEMPOTENCY_HOURS))
