"""Typed accessors of the sync's tunables.

Every value (and its default) is defined once in `dashboard/settings.py`, read from the
environment there; these only read `django.conf.settings` at call time, so a test's settings
override is seen, and give call sites a typed value (and a tuple for the client timeout).
"""

from __future__ import annotations

from django.conf import settings


def lease_seconds() -> int:
    """How long a claimed sync is its worker's; outlives the task's hard time limit."""
    return settings.WORKROOM_SYNC_LEASE_SECONDS


def soft_time_limit() -> int:
    """The sync task's soft time limit (SoftTimeLimitExceeded ends it cleanly)."""
    return settings.WORKROOM_SYNC_SOFT_TIME_LIMIT


def time_limit() -> int:
    """The sync task's hard time limit (the pool kills the worker process)."""
    return settings.WORKROOM_SYNC_TIME_LIMIT


def time_budget_seconds() -> int:
    """A sync stops cleanly after this long (before the task's soft time limit)."""
    return settings.WORKROOM_SYNC_TIME_BUDGET


def max_attempts() -> int:
    """Deliveries of one SyncRun before it is given up (stops a sync that kills its worker)."""
    return settings.WORKROOM_SYNC_MAX_ATTEMPTS


def task_max_retries() -> int:
    return settings.WORKROOM_SYNC_MAX_RETRIES


def retry_base_seconds() -> float:
    return settings.WORKROOM_SYNC_RETRY_BASE


def retry_cap_seconds() -> float:
    return settings.WORKROOM_SYNC_RETRY_CAP


def sweep_after_seconds() -> int:
    """A queued sync whose message has not started after this long is re-enqueued."""
    return settings.WORKROOM_SYNC_SWEEP_AFTER


def progress_every_seconds() -> float:
    return settings.WORKROOM_SYNC_PROGRESS_EVERY


def client_max_retries() -> int:
    return settings.WORKROOM_SYNC_CLIENT_RETRIES


def sync_queue() -> str | None:
    """The Celery queue of sync tasks (None: the default queue)."""
    return settings.WORKROOM_SYNC_QUEUE or None


def client_timeout() -> tuple[float, float]:
    """(connect, read) seconds per Control Room request of a sync."""
    return (settings.WORKROOM_SYNC_CONNECT_TIMEOUT, settings.WORKROOM_SYNC_READ_TIMEOUT)


def active_interval_seconds() -> float:
    """Sync interval while the mirror holds active items or runs to re-read (the convergence
    target: the mirror equals Control Room within a minute of the last change)."""
    return settings.WORKROOM_SYNC_ACTIVE_INTERVAL


def targeted_wait_seconds() -> float:
    """How long a webhook-triggered sync of one run waits for a running sync to end."""
    return settings.WORKROOM_SYNC_TARGETED_WAIT_SECONDS


def targeted_retry_seconds() -> float:
    return settings.WORKROOM_SYNC_TARGETED_RETRY_SECONDS


def history_days() -> int:
    """Finished syncs and mirror checks older than this many days are deleted."""
    return settings.WORKROOM_SYNC_HISTORY_DAYS


def webhook_max_age_seconds() -> int:
    """How far a delivery's `webhookEventTimestamp` may be from now, either way."""
    return settings.WORKROOM_WEBHOOK_MAX_AGE_SECONDS
