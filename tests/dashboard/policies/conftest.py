"""Fixtures of the retry-policy tests: team A's workspace on this test's emulator, a spy on
the emulator's batch endpoint (every retry Control Room received), a policy builder, and a
Celery queue of the test's own for real workers."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dashboard.audit.services import Actor
from dashboard.policies import services
from dashboard.policies.models import RetryPolicy
from dashboard.workspaces.models import Workspace
from robocorp_api.emulator import EmulatorServer
from tests.dashboard.bulk.helpers import BatchSpy
from tests.dashboard.support.workers import Worker, Workers
from tests.dashboard.support.workspaces import workspace_on_emulator

HTTP_502 = (
    "application",
    "HTTP_ERROR",
    "HTTP 502 from https://erp.example.com/api/orders/10231",
)


def seed_outage(
    emu: EmulatorServer,
    n: int,
    *,
    retry_failure_rate: float,
    name: str = "Order Intake",
    exception: tuple[str, str, str] = HTTP_502,
) -> Any:
    """A process whose run failed all its `n` items with `exception`; a retried item fails
    again at `retry_failure_rate` (robots paused afterwards: `emu.advance` moves them)."""
    process = emu.store.add_process(
        name,
        steps=["Only"],
        item_seconds=0.01,
        failure_rate=1.0,
        exception=exception,
        retry_failure_rate=retry_failure_rate,
    )
    emu.store.create_run(process.id, payloads=[{"n": k} for k in range(n)])
    emu.advance(3600)
    return process


@pytest.fixture
def ws(team_a: Any, emu: EmulatorServer) -> Workspace:
    return workspace_on_emulator(emu, team_a, name="Policy WS")


@pytest.fixture
def spy(emu: EmulatorServer) -> Iterator[BatchSpy]:
    recorder = BatchSpy(emu)
    yield recorder
    recorder.restore()


@pytest.fixture
def make_policy(team_a: Any, alice: Any) -> Callable[..., RetryPolicy]:
    """Create (through the service, as alice the admin) and enable a policy."""

    def make(
        *, enable: bool = True, workspaces: Any = (), **fields: Any
    ) -> RetryPolicy:
        defaults: dict[str, Any] = {
            "name": "Retry ERP outages",
            "exception_codes": ["HTTP_ERROR"],
            "backoff_minutes": [0],
            "max_attempts": 3,
            "max_items_per_hour": 1000,
            "breaker_exhausted_items": 0,
        }
        policy = RetryPolicy(**(defaults | fields))
        actor = Actor.of(alice)
        services.save_policy(actor, team_a, policy, list(workspaces))
        if enable:
            services.change_state(actor, policy, "enable")
        return policy

    return make


@pytest.fixture
def policy_queue(settings: Any, redis_client: Any) -> Iterator[str]:
    name = f"policy-test-{uuid.uuid4().hex[:10]}"
    settings.WORKROOM_POLICY_QUEUE = name
    yield name
    redis_client.delete(name)


@pytest.fixture
def start_worker(
    subprocess_env: dict[str, str], policy_queue: str, settings: Any, tmp_path: Path
) -> Iterator[Callable[..., Worker]]:
    """A real worker on the test's policy queue, with a 3-second claim lease."""
    settings.WORKROOM_POLICY_LEASE_SECONDS = 3
    env = {
        **subprocess_env,
        "WORKROOM_POLICY_QUEUE": policy_queue,
        "WORKROOM_POLICY_LEASE_SECONDS": "3",
    }
    with Workers(
        queue=policy_queue, env=env, log_dir=tmp_path, name="policy"
    ) as workers:
        yield workers.start
