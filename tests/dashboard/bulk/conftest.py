"""Fixtures of the bulk tests: team A's workspace on this test's emulator (`emu`), a spy on the
emulator's batch endpoint, and a Celery queue of the test's own."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dashboard.workspaces.models import Workspace
from robocorp_api.emulator import EmulatorServer
from tests.dashboard.bulk.helpers import BatchSpy
from tests.dashboard.support.workers import Worker, Workers
from tests.dashboard.support.workspaces import workspace_on_emulator


@pytest.fixture
def ws(team_a: Any, emu: EmulatorServer) -> Workspace:
    return workspace_on_emulator(emu, team_a, name="Bulk WS")


@pytest.fixture
def spy(emu: EmulatorServer) -> Iterator[BatchSpy]:
    recorder = BatchSpy(emu)
    yield recorder
    recorder.restore()


@pytest.fixture
def bulk_queue(settings: Any, redis_client: Any) -> Iterator[str]:
    """Route chunk tasks to a queue of this test's own (a dev worker never sees them)."""
    name = f"bulk-test-{uuid.uuid4().hex[:10]}"
    settings.WORKROOM_BULK_QUEUE = name
    yield name
    redis_client.delete(name)


TUNING = {
    "WORKROOM_BULK_LEASE_SECONDS": "3",
    "WORKROOM_BULK_SWEEP_AFTER": "1",
    "WORKROOM_BULK_RETRY_BASE": "0",
    "WORKROOM_BULK_RETRY_CAP": "2",
    "WORKROOM_BULK_CHUNK_SIZE": "10",
}


@pytest.fixture
def tuned(settings: Any, bulk_queue: str) -> dict[str, str]:
    """Short leases and retries: in this process through settings, in the workers started by
    `start_worker` through the environment (which their settings.py reads)."""
    for name, value in TUNING.items():
        setattr(settings, name, int(value))
    return {**TUNING, "WORKROOM_BULK_QUEUE": bulk_queue}


@pytest.fixture
def start_worker(
    subprocess_env: dict[str, str], tuned: dict[str, str], tmp_path: Path
) -> Iterator[Callable[..., Worker]]:
    """Start a real worker on the test's bulk queue (`start_worker(REDIS_URL=...)` adds env)."""
    with Workers(
        queue=tuned["WORKROOM_BULK_QUEUE"],
        env={**subprocess_env, **tuned},
        log_dir=tmp_path,
        name="bulk",
    ) as workers:
        yield workers.start


@pytest.fixture(autouse=True)
def start_at_once(settings: Any) -> None:
    """These tests time what an operation does once started, so a mark done / delete starts
    at once; test_collab_bulk.py turns the undo window back on."""
    settings.WORKROOM_UNDO_SECONDS = 0
