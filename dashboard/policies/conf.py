"""Typed accessors of the tunables of retry policies (defined and validated once in
`dashboard/settings.py`; read at call time so a test's settings override is seen)."""

from __future__ import annotations

from django.conf import settings


def lease_seconds() -> int:
    """How long a claim is its evaluation's; after that the sweep reconciles it."""
    return settings.WORKROOM_POLICY_LEASE_SECONDS


def policy_queue() -> str | None:
    """The Celery queue of policy evaluations (None: the default queue)."""
    return settings.WORKROOM_POLICY_QUEUE or None


def stale_after_seconds() -> int:
    """A mirror row last seen longer ago than this is re-read before a policy retries it."""
    return settings.WORKROOM_BULK_STALE_SECONDS
