"""Root fixtures: Control Room emulators on ephemeral loopback ports (real HTTP, no mocks).

- `emu`: THE emulator of a test: its own (never shared, so no test sees another's data, keys
  or faults), seed `empty`, robots PAUSED — drive them with `emu.advance(seconds)` for
  deterministic state machines, or `emu.resume_robots()` to let them run in the background.
- `emulator_factory(**kwargs)`: start more emulators, or one seeded differently
  (`emulator_factory(seed="large:15000")`); all are stopped at the end of the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from robocorp_api.emulator import EmulatorServer


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


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    """After a failed run, repeat pytest-randomly's seed (its header line is hidden by -q)."""
    seed = config.getoption("randomly_seed", default=None)
    failed = exitstatus not in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED)
    if failed and isinstance(seed, int):
        terminalreporter.write_line(
            f"The tests ran in a random order; replay it with "
            f"-p randomly --randomly-seed={seed}"
        )
