"""Retry policies through real Celery workers (subprocesses) on the real Redis, against the
emulator's robots: a finished sync triggers the evaluation with no click; duplicated
evaluations on competing workers and a worker SIGKILLed mid-send never retry an item twice.

"Exactly once" is counted where it lands: every id the emulator's batch endpoint received.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from dashboard.audit.models import AuditEvent
from dashboard.mirror.models import FailureOccurrence, SyncRun
from dashboard.mirror.services.syncruns import sync_request
from dashboard.policies import hooks
from dashboard.policies.models import PolicyClaim
from dashboard.policies.tasks import evaluate_workspace
from tests.dashboard.policies.conftest import seed_outage
from tests.dashboard.support.sync import full_sync
from tests.dashboard.support.workers import wait_until

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.worker,
    pytest.mark.emulator,
    pytest.mark.slow,
]


def retries(spy: Any) -> dict[int, int]:
    return dict(spy.per_row("retry"))


def test_the_next_outage_is_retried_without_a_click(
    ws, emu, spy, make_policy, start_worker, policy_queue, settings
):
    """A sync finishes (its task on a worker) → the evaluation is enqueued → retried."""
    settings.WORKROOM_SYNC_QUEUE = policy_queue  # one test queue for both tasks
    make_policy(max_attempts=3)
    seed_outage(emu, 5, retry_failure_rate=0.0)
    worker = start_worker(WORKROOM_SYNC_QUEUE=policy_queue)
    sync_run = sync_request(workspace=ws, trigger=SyncRun.Trigger.MANUAL)
    wait_until(
        lambda: PolicyClaim.objects.filter(state="sent").count() == 5,
        timeout=60,
        interval=0.2,
    )
    sync_run.refresh_from_db()
    assert sync_run.status == SyncRun.Status.SUCCEEDED, worker.output()
    assert len(retries(spy)) == 5 and set(retries(spy).values()) == {1}
    assert set(FailureOccurrence.objects.values_list("retried_by", flat=True)) == {
        "policy Retry ERP outages"
    }


def test_duplicated_evaluations_on_competing_workers_retry_once(
    ws, emu, spy, make_policy, start_worker, policy_queue
):
    seed_outage(emu, 20, retry_failure_rate=1.0)
    full_sync(ws)
    make_policy()
    # Each batch call takes 0.5 s: the duplicates overlap on the two workers.
    emu.faults.add(kind="latency", latency_ms=500, path=r"/work-items/batch$")
    start_worker()
    start_worker()
    for _ in range(4):
        evaluate_workspace.apply_async(args=(ws.pk,), queue=policy_queue)
    wait_until(
        lambda: PolicyClaim.objects.filter(state="sent").count() == 20,
        timeout=60,
        interval=0.2,
    )
    time.sleep(1.5)  # let the remaining deliveries run out
    assert len(retries(spy)) == 20
    assert set(retries(spy).values()) == {1}
    assert not PolicyClaim.objects.filter(state="claimed").exists()


def test_a_worker_killed_mid_send_never_double_retries(
    ws, emu, spy, make_policy, start_worker, policy_queue
):
    seed_outage(emu, 6, retry_failure_rate=1.0)
    full_sync(ws)
    make_policy()
    # The batch call takes 1.5 s: the kill lands while it is on the wire. Control Room
    # still applies it, so the dead worker's claims must be settled by re-reading.
    emu.faults.add(kind="latency", latency_ms=1500, path=r"/work-items/batch$")
    worker = start_worker()
    evaluate_workspace.apply_async(args=(ws.pk,), queue=policy_queue)
    wait_until(
        lambda: PolicyClaim.objects.filter(state="claimed").count() == 6,
        timeout=30,
        interval=0.05,
    )
    time.sleep(0.5)
    worker.kill()
    wait_until(lambda: len(retries(spy)) == 6, timeout=10)  # applied after the kill
    assert PolicyClaim.objects.filter(state="claimed").count() == 6
    # A duplicate delivery while the dead worker's lease (3 s) still runs: nothing sent.
    start_worker()
    evaluate_workspace.apply_async(args=(ws.pk,), queue=policy_queue)
    time.sleep(1.0)
    assert sum(retries(spy).values()) == 6
    # Once the lease has run out, the sweep enqueues an evaluation that re-reads the items.
    time.sleep(3.0)
    wait_until(
        lambda: (
            hooks.sweep() == 0 and PolicyClaim.objects.filter(state="sent").count() == 6
        ),
        timeout=30,
        interval=0.5,
    )
    assert set(retries(spy).values()) == {1}
    assert not PolicyClaim.objects.filter(state="claimed").exists()
    # Decided by re-reading Control Room, and audited then (the dead worker could not).
    assert (
        AuditEvent.objects.filter(
            action="work_item.retry", summary__contains="interrupted evaluation"
        ).count()
        == 6
    )
