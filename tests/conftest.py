"""Root fixtures: Control Room emulators on ephemeral loopback ports (real HTTP, no mocks).

- `emu`: THE emulator of a test: its own (never shared, so no test sees another's data, keys
  or faults), seed `empty`, robots PAUSED — drive them with `emu.advance(seconds)` for
  deterministic state machines, or `emu.resume_robots()` to let them run in the background.
- `emulator_factory(**kwargs)`: start more emulators, or one seeded differently
  (`emulator_factory(seed="large:15000")`); all are stopped at the end of the test.

Under pytest-xdist (`-n N`) each worker gets Redis databases of its own (see
`pytest_xdist_setupnodes` below); test databases are per worker already (pytest-django suffixes
their names with the worker id).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests

from robocorp_api.emulator import EmulatorServer

if TYPE_CHECKING:
    import execnet


def _started(**kwargs: Any) -> EmulatorServer:
    emu = EmulatorServer(**{"host": "127.0.0.1", "port": 0, "seed": "empty", **kwargs})
    emu.start()
    answer = requests.get(f"{emu.url}/__emulator__/info", timeout=5)
    if (
        answer.status_code != 200
    ):  # fail fast: every emulator-backed test would fail otherwise
        emu.stop()
        pytest.fail(
            f"emulator at {emu.url} is not answering: HTTP {answer.status_code}"
        )
    return emu


@pytest.fixture
def emulator_factory() -> Iterator[Callable[..., EmulatorServer]]:
    """Start emulators (`EmulatorServer` keyword arguments); each is stopped after the test."""
    started: list[EmulatorServer] = []

    def make(**kwargs: Any) -> EmulatorServer:
        emu = _started(**kwargs)
        started.append(emu)
        return emu

    yield make
    for emu in started:
        emu.stop()


@pytest.fixture
def emu(emulator_factory: Callable[..., EmulatorServer]) -> EmulatorServer:
    """This test's own emulator: seed `empty`, robots paused, webhooks redelivered quickly."""
    emulator = emulator_factory(webhook_backoff=0.05)
    emulator.pause_robots()
    return emulator


def redis_url_shifted(url: str, by: int) -> str:
    """Return `url` (redis://host:port/db) pointing at database `db + by`."""
    parts = urlsplit(url)
    db = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{db + by}"))


def worker_redis_env(worker_index: int) -> dict[str, str]:
    """The Redis settings of xdist worker `gw<worker_index>`: the broker and cache databases of the
    run (REDIS_URL's db and db + 1) moved up by 2 per worker, so gw0 keeps them, gw1 gets db + 2
    and db + 3, and so on. A flush, a queue or a fixed key of one worker never meets another's."""
    from django.conf import settings

    env = {"REDIS_URL": redis_url_shifted(settings.REDIS_URL, 2 * worker_index)}
    if explicit_cache := os.environ.get("WORKROOM_CACHE_URL"):
        env["WORKROOM_CACHE_URL"] = redis_url_shifted(explicit_cache, 2 * worker_index)
    return env


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_setupnodes(config: pytest.Config, specs: list[execnet.XSpec]) -> None:
    """Set each xdist worker's Redis databases in its environment before the worker starts.

    It must be there before the worker imports Django's settings (pytest-django does that before
    any conftest runs), and in the environment so the Celery workers, manage.py and servers the
    tests start inherit it. xdist numbers the workers gw0, gw1, ... in the order of `specs`.
    """
    for spec in specs:
        index = int(str(spec.id).removeprefix("gw"))
        spec.env.update(worker_redis_env(index))


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    """After a failed run, repeat pytest-randomly's seed (its header line is hidden by -q)."""
    seed = config.getoption("randomly_seed", default=None)
    failed = exitstatus not in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED)
    if failed and isinstance(seed, int):
        workers = config.getoption("numprocesses", default=None)
        on_workers = f" -n {workers}" if workers else ""
        terminalreporter.write_line(
            f"The tests ran in a random order; replay it with "
            f"-p randomly --randomly-seed={seed}{on_workers}"
            + (" (which worker runs which test still varies)" if workers else "")
        )
