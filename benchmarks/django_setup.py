"""Set up Django for a benchmark: development settings, a database of the benchmark's own
(a temp SQLite file unless a URL is given), migrated."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def setup_django(tmp: Path | None, database_url: str = "", **env: str) -> None:
    """Configure the environment (`env` added), set Django up and migrate.

    Without `database_url` the database is a SQLite file in `tmp`."""
    if not database_url and tmp is None:
        raise ValueError("setup_django needs a database URL or a directory for SQLite")
    os.environ.update(
        {
            "WORKROOM_DEV": "1",
            "DJANGO_SETTINGS_MODULE": "dashboard.settings",
            "DATABASE_URL": database_url or f"sqlite:///{tmp}/bench.sqlite3",
            "WORKROOM_LOG_LEVEL": "WARNING",
            **env,
        }
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def start_celery_worker(
    queue: str,
    *,
    concurrency: int,
    name: str,
    log: Path,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start a real `celery worker` (prefork) on `queue` for the benchmark, in a session of
    its own (so the benchmark can signal the whole process group), logging to `log`.

    Without heartbeat, gossip and mingle: the benchmark's workers need no peers, and their
    chatter would be Redis load the benchmark measures."""
    argv = [
        *(sys.executable, "-m", "celery", "-A", "dashboard", "worker"),
        *("-Q", queue, "-c", str(concurrency), "-l", "warning", "-n", f"{name}@%h"),
        *("--without-heartbeat", "--without-gossip", "--without-mingle"),
    ]
    return subprocess.Popen(  # noqa: S603 - argv is built here, no user input
        argv,
        env=env if env is not None else os.environ.copy(),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
