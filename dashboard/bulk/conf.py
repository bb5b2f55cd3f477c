"""Tunables of bulk operations: a Django setting of the same name wins, then the environment,
then the default. Every value is validated (a bad one fails loudly, never silently defaults).
"""

from __future__ import annotations

import os

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def _int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = getattr(settings, name, None)
    if raw is None:
        raw = os.environ.get(name, "").strip() or default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}.") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {value}.")
    return value


def chunk_size() -> int:
    """Work item ids per Control Room batch call (one chunk, one Celery task)."""
    return _int("WORKROOM_BULK_CHUNK_SIZE", 100, minimum=1)


def max_items_per_minute() -> int:
    """Per-workspace throttle of items sent to Control Room (0 = unlimited)."""
    return _int("WORKROOM_BULK_MAX_ITEMS_PER_MINUTE", 0)


def max_items() -> int:
    """The largest selection one operation may hold."""
    return _int("WORKROOM_BULK_MAX_ITEMS", 100_000, minimum=1)


def stale_after_seconds() -> int:
    """A mirror row last seen longer ago than this is re-read from Control Room at execution."""
    return _int("WORKROOM_BULK_STALE_SECONDS", 30)


def draft_ttl_hours() -> int:
    """How long a preview stays confirmable; older drafts are refused and then purged."""
    return _int("WORKROOM_BULK_DRAFT_TTL_HOURS", 24, minimum=1)


def lease_seconds() -> int:
    """How long a claimed chunk is its worker's; longer than the task's hard time limit."""
    return _int("WORKROOM_BULK_LEASE_SECONDS", chunk_time_limit() + 30, minimum=1)


def chunk_soft_time_limit() -> int:
    return _int("WORKROOM_BULK_CHUNK_SOFT_TIME_LIMIT", 120, minimum=1)


def chunk_time_limit() -> int:
    return _int("WORKROOM_BULK_CHUNK_TIME_LIMIT", 150, minimum=1)


def max_attempts() -> int:
    """Deliveries of one chunk that died mid-way before it is given up (a poison chunk)."""
    return _int("WORKROOM_BULK_MAX_ATTEMPTS", 3, minimum=1)


def max_transient_retries() -> int:
    """Task retries of a chunk after 5xx / unreachable Control Room (429s are not counted)."""
    return _int("WORKROOM_BULK_MAX_RETRIES", 5)


def retry_base_seconds() -> float:
    return float(_int("WORKROOM_BULK_RETRY_BASE", 5))


def retry_cap_seconds() -> int:
    """The longest countdown a chunk task is ever scheduled with (under the visibility timeout)."""
    return _int("WORKROOM_BULK_RETRY_CAP", 300, minimum=1)


def sweep_after_seconds() -> int:
    """A queued chunk whose message has not started after this long is enqueued again."""
    return _int("WORKROOM_BULK_SWEEP_AFTER", 60, minimum=1)


def bulk_queue() -> str | None:
    """The Celery queue of chunk tasks (None: the default queue)."""
    value = getattr(settings, "WORKROOM_BULK_QUEUE", None) or os.environ.get(
        "WORKROOM_BULK_QUEUE", ""
    )
    return value or None
