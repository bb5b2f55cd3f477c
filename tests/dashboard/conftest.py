"""Dashboard test fixtures: the domain's world (tests/dashboard/world.py) plus generic helpers.

The generic fixtures below (subprocess_env, manage_py, redis_client, heartbeat_key, closed_port,
fast_password_hasher) belong to the Django foundation. django-axes needs the request to authenticate,
so `client.login(...)` raises in tests: use `client.force_login(user)` or post to the login view.
"""

from __future__ import annotations

import os
import socket
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings
from django.db import connection

from tests.dashboard.world import *  # noqa: F403

REPO_ROOT = Path(__file__).resolve().parents[2]


def database_url_for(settings_dict: dict[str, Any]) -> str:
    """Return a DATABASE_URL that opens the database described by a Django settings dict."""
    if settings_dict["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{settings_dict['NAME']}"
    user = settings_dict.get("USER") or ""
    password = settings_dict.get("PASSWORD") or ""
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{auth}{host}:{port}/{settings_dict['NAME']}"


@pytest.fixture
def subprocess_env(db: None) -> dict[str, str]:
    """Return an environment for child processes (manage.py, celery) that use THIS test database.

    Use with `transactional_db` when the child must see rows the test wrote.
    """
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "DJANGO_"))
    }
    env.update(
        {
            "WORKROOM_DEV": "1",
            "DJANGO_SETTINGS_MODULE": "dashboard.settings",
            "DATABASE_URL": database_url_for(connection.settings_dict),
            "REDIS_URL": settings.REDIS_URL,
            "PYTHONPATH": str(REPO_ROOT),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


@pytest.fixture
def manage_py() -> list[str]:
    """Return the argv prefix that runs this checkout's manage.py with the test interpreter."""
    return [sys.executable, str(REPO_ROOT / "manage.py")]


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    """Return a client of the real Redis at settings.REDIS_URL."""
    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.fail(
            f"Redis is not reachable at {settings.REDIS_URL}: run scripts/ensure-services.sh"
        )
    yield client
    client.close()


@pytest.fixture
def heartbeat_key(settings: Any, redis_client: redis.Redis) -> Iterator[str]:
    """Point the worker heartbeat at a key of this test's own (a running dev worker never touches it)."""
    key = f"workroom:test-heartbeat:{uuid.uuid4().hex}"
    settings.WORKROOM_HEARTBEAT_KEY = key
    yield key
    redis_client.delete(key)


@pytest.fixture
def closed_port() -> int:
    """Return a loopback TCP port that nothing listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture(autouse=True)
def fast_password_hasher(settings: Any) -> None:
    """Hash test passwords cheaply (Django's testing advice); production keeps PBKDF2."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Remove this process's SQLite test database leftovers (-wal/-shm stay when a child held it)."""
    var_dir = Path(settings.VAR_DIR)
    for leftover in var_dir.glob(f"test-db-{os.getpid()}.sqlite3*"):
        leftover.unlink(missing_ok=True)
