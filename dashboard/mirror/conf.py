"""Tunables of the sync, read from Django settings with safe defaults.

The lease must outlive the task's hard time limit (ECOSYSTEM.md B5), and the sync's own time
budget must end before the soft limit, so a long sync stops cleanly and the next one resumes.
"""

from __future__ import annotations

from django.conf import settings


def _int(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


def lease_seconds() -> int:
    return _int("WORKROOM_SYNC_LEASE_SECONDS", _int("CELERY_TASK_TIME_LIMIT", 330) + 30)


def time_budget_seconds() -> int:
    return _int(
        "WORKROOM_SYNC_TIME_BUDGET",
        max(_int("CELERY_TASK_SOFT_TIME_LIMIT", 300) - 30, 10),
    )


def max_attempts() -> int:
    """Deliveries of one SyncRun before it is given up (stops a sync that kills its worker)."""
    return _int("WORKROOM_SYNC_MAX_ATTEMPTS", 8)


def task_max_retries() -> int:
    return _int("WORKROOM_SYNC_MAX_RETRIES", 5)


def retry_base_seconds() -> float:
    return float(getattr(settings, "WORKROOM_SYNC_RETRY_BASE", 5.0))


def retry_cap_seconds() -> float:
    return float(getattr(settings, "WORKROOM_SYNC_RETRY_CAP", 300.0))


def sweep_after_seconds() -> int:
    """A queued sync whose message has not started after this long is re-enqueued."""
    return _int("WORKROOM_SYNC_SWEEP_AFTER", 60)


def default_interval_seconds() -> int:
    return _int("WORKROOM_DEFAULT_SYNC_INTERVAL", 60)


def progress_every_seconds() -> float:
    return float(getattr(settings, "WORKROOM_SYNC_PROGRESS_EVERY", 1.0))


def client_max_retries() -> int:
    return _int("WORKROOM_SYNC_CLIENT_RETRIES", 4)


def sync_queue() -> str | None:
    """The Celery queue of sync tasks (None: the default queue)."""
    return getattr(settings, "WORKROOM_SYNC_QUEUE", None) or None


def client_timeout() -> tuple[float, float]:
    """(connect, read) seconds per Control Room request of a sync. A hung call must time out
    (with the client's retries) well inside the task's soft time limit (ECOSYSTEM.md F20)."""
    return (
        float(getattr(settings, "WORKROOM_SYNC_CONNECT_TIMEOUT", 5.0)),
        float(getattr(settings, "WORKROOM_SYNC_READ_TIMEOUT", 30.0)),
    )


def active_interval_seconds() -> float:
    """Sync interval while the mirror holds active items or runs to re-read (the convergence
    target: the mirror equals Control Room within a minute of the last change)."""
    return float(getattr(settings, "WORKROOM_SYNC_ACTIVE_INTERVAL", 10))


def targeted_wait_seconds() -> float:
    """How long a webhook-triggered sync of one run waits for a running sync to end."""
    return float(getattr(settings, "WORKROOM_SYNC_TARGETED_WAIT_SECONDS", 120))


def targeted_retry_seconds() -> float:
    return float(getattr(settings, "WORKROOM_SYNC_TARGETED_RETRY_SECONDS", 0.5))


def history_days() -> int:
    """Finished syncs and mirror checks older than this many days are deleted."""
    return _int("WORKROOM_SYNC_HISTORY_DAYS", 14)


def webhook_max_age_seconds() -> int:
    """How far a delivery's `webhookEventTimestamp` may be from now, either way."""
    return _int("WORKROOM_WEBHOOK_MAX_AGE_SECONDS", 300)
