"""The worker heartbeat in Redis: written by a periodic task, read by /healthz."""

from __future__ import annotations

from datetime import UTC, datetime

import redis

HEARTBEAT_TTL_SECONDS = 24 * 3600


def connect(url: str, *, timeout: float = 2.0) -> redis.Redis:
    """Return a Redis client for ``url`` that gives up quickly when Redis is unreachable."""
    return redis.Redis.from_url(
        url, socket_connect_timeout=timeout, socket_timeout=timeout
    )


def write(client: redis.Redis, key: str, *, now: datetime | None = None) -> datetime:
    """Store the current UTC time under ``key`` and return it."""
    stamp = now or datetime.now(tz=UTC)
    client.set(key, stamp.isoformat(), ex=HEARTBEAT_TTL_SECONDS)
    return stamp


def read(client: redis.Redis, key: str) -> datetime | None:
    """Return the last heartbeat time, or None when there is none (or it is unreadable)."""
    raw = client.get(key)
    if raw is None:
        return None
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
        stamp = datetime.fromisoformat(text)
    except ValueError:
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
