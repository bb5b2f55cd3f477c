"""Root fixtures: the Control Room emulator on an ephemeral loopback port (real HTTP, no mocks).

- `emulator`: one per test session, seed `empty`, robots running fast (speed 50). Tests that share it create
  their own processes (`emulator.store.add_process(...)`) so they do not depend on each other.
- `emulator_factory(**kwargs)`: start extra emulators (stopped at the end of the test).
- `fresh_emulator`: a private emulator per test, seed `empty`, robots PAUSED — drive them with
  `fresh_emulator.advance(seconds)` for deterministic state machines.
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


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmulatorServer]:
    emu = _started(speed=50.0, webhook_backoff=0.05)
    yield emu
    emu.stop()


@pytest.fixture
def emulator_factory() -> Iterator[Callable[..., EmulatorServer]]:
    started: list[EmulatorServer] = []

    def make(**kwargs: Any) -> EmulatorServer:
        emu = _started(**kwargs)
        started.append(emu)
        return emu

    yield make
    for emu in started:
        emu.stop()


@pytest.fixture
def fresh_emulator(emulator_factory: Callable[..., EmulatorServer]) -> EmulatorServer:
    emu = emulator_factory(webhook_backoff=0.05)
    emu.pause_robots()
    return emu
