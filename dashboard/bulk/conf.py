"""Typed accessors of the tunables of bulk operations.

Every value (and its default and minimum) is defined once in `dashboard/settings.py`, read from
the environment there, where a bad value fails at start-up; these only read
`django.conf.settings` at call time, so a test's settings override is seen.
"""

from __future__ import annotations

from django.conf import settings


def chunk_size() -> int:
    """Work item ids per Control Room batch call (one chunk, one Celery task)."""
    return settings.WORKROOM_BULK_CHUNK_SIZE


def max_items_per_minute() -> int:
    """Per-workspace throttle of items sent to Control Room (0 = unlimited)."""
    return settings.WORKROOM_BULK_MAX_ITEMS_PER_MINUTE


def max_items() -> int:
    """The largest selection one operation may hold."""
    return settings.WORKROOM_BULK_MAX_ITEMS


def stale_after_seconds() -> int:
    """A mirror row last seen longer ago than this is re-read from Control Room at execution."""
    return settings.WORKROOM_BULK_STALE_SECONDS


def draft_ttl_hours() -> int:
    """How long a preview stays confirmable; older drafts are refused and then purged."""
    return settings.WORKROOM_BULK_DRAFT_TTL_HOURS


def lease_seconds() -> int:
    """How long a claimed chunk is its worker's; longer than the task's hard time limit."""
    return settings.WORKROOM_BULK_LEASE_SECONDS


def chunk_soft_time_limit() -> int:
    return settings.WORKROOM_BULK_CHUNK_SOFT_TIME_LIMIT


def chunk_time_limit() -> int:
    return settings.WORKROOM_BULK_CHUNK_TIME_LIMIT


def max_attempts() -> int:
    """Deliveries of one chunk that died mid-way before it is given up (a poison chunk)."""
    return settings.WORKROOM_BULK_MAX_ATTEMPTS


def max_transient_retries() -> int:
    """Task retries of a chunk after 5xx / unreachable Control Room (429s are not counted)."""
    return settings.WORKROOM_BULK_MAX_RETRIES


def retry_base_seconds() -> float:
    return float(settings.WORKROOM_BULK_RETRY_BASE)


def retry_cap_seconds() -> int:
    """The longest countdown a chunk task is ever scheduled with (under the visibility timeout)."""
    return settings.WORKROOM_BULK_RETRY_CAP


def sweep_after_seconds() -> int:
    """A queued chunk whose message has not started after this long is enqueued again."""
    return settings.WORKROOM_BULK_SWEEP_AFTER


def bulk_queue() -> str | None:
    """The Celery queue of chunk tasks (None: the default queue)."""
    return settings.WORKROOM_BULK_QUEUE or None
