"""The limits of bulk operations against the emulator: the per-workspace throttle
(WORKROOM_BULK_MAX_ITEMS_PER_MINUTE) with a real worker, giving a poison chunk up after
WORKROOM_BULK_MAX_ATTEMPTS deliveries that died, the selection cap (WORKROOM_BULK_MAX_ITEMS) at
preview, and cancelling while a real worker is sending a chunk.
"""

from __future__ import annotations

import time
from datetime import timedelta
from itertools import pairwise
from typing import Any

import pytest

from dashboard.audit.models import AuditEvent
from dashboard.bulk import drafts, execution
from dashboard.bulk.models import BulkChunk, BulkItem, BulkOperation
from dashboard.workspaces.models import Workspace
from dashboard.workspaces.services import build_client
from robocorp_api.emulator import EmulatorServer
from tests.dashboard.bulk.helpers import failed_ids, seed_failed
from tests.dashboard.support.sync import full_sync
from tests.dashboard.support.workers import wait_until

pytestmark = [pytest.mark.emulator]


def confirmed(user: Any, *, ids: list[int] | None = None) -> BulkOperation:
    op = drafts.create_draft(
        user, action="retry", ids=ids, filter_query="" if ids else "state=failed"
    )
    return drafts.confirm(op, user, reason="limits test")


def due_times(op: BulkOperation) -> list[Any]:
    return list(op.chunks.order_by("seq").values_list("not_before", flat=True))


def state_of(op: BulkOperation) -> str:
    op.refresh_from_db()
    return op.state


def rows_of(emu: EmulatorServer, op: BulkOperation, **filters: Any) -> set[int]:
    """The emulator's row ids of the operation's items (what the batch spy records)."""
    externals = BulkItem.objects.filter(operation=op, **filters).values_list(
        "external_id", flat=True
    )
    rows = {emu.store.items.parse_id(e) for e in externals}
    return {r for r in rows if r is not None}


# --- the throttle ------------------------------------------------------------------------------


def test_the_throttle_spaces_chunk_sends(db, ws, emu, bob, settings):
    settings.WORKROOM_BULK_CHUNK_SIZE = 2
    settings.WORKROOM_BULK_MAX_ITEMS_PER_MINUTE = 120  # 2 items a second
    seed_failed(emu, 7)
    full_sync(ws)
    op = confirmed(bob)
    due = due_times(op)
    assert list(op.chunks.order_by("seq").values_list("size", flat=True)) == [
        2,
        2,
        2,
        1,
    ]
    gaps = [b - a for a, b in pairwise(due)]
    assert gaps == [timedelta(seconds=1)] * 3
    # A chunk delivered before its time is not run (the claim wants it due).
    assert execution.run_chunk(op.chunks.get(seq=3).pk).status == "noop"
    assert BulkChunk.objects.get(operation=op, seq=3).attempts == 0


def test_the_throttle_is_shared_by_operations_of_a_workspace(
    db, ws, emu, bob, settings
):
    settings.WORKROOM_BULK_CHUNK_SIZE = 2
    settings.WORKROOM_BULK_MAX_ITEMS_PER_MINUTE = 120
    seed_failed(emu, 10)
    full_sync(ws)
    ids = failed_ids(ws)
    first = confirmed(bob, ids=ids[:6])
    second = confirmed(bob, ids=ids[6:])
    # The first operation reserved 6 items = 3 s of the workspace's schedule.
    assert due_times(second) == [
        due_times(first)[0] + timedelta(seconds=3),
        due_times(first)[0] + timedelta(seconds=4),
    ]


def test_without_the_throttle_nothing_waits(db, ws, emu, bob, settings):
    settings.WORKROOM_BULK_CHUNK_SIZE = 2
    settings.WORKROOM_BULK_MAX_ITEMS_PER_MINUTE = 0
    seed_failed(emu, 6)
    full_sync(ws)
    op = confirmed(bob)
    assert len(set(due_times(op))) == 1
    assert due_times(op)[0] <= op.confirmed_at


@pytest.mark.parametrize("rate", [120, 0], ids=["throttled", "unthrottled"])
@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
@pytest.mark.slow
def test_a_worker_sends_on_the_throttles_schedule(
    ws, emu, bob, spy, start_worker, settings, rate
):
    settings.WORKROOM_BULK_CHUNK_SIZE = 2
    settings.WORKROOM_BULK_MAX_ITEMS_PER_MINUTE = rate
    seed_failed(emu, 8)
    full_sync(ws)
    worker = start_worker()
    confirmed_at = time.monotonic()
    op = confirmed(bob)
    if rate:
        # Chunks due beyond the countdown cap (2 s here) are left to the sweeper (beat).
        assert (
            list(op.chunks.order_by("seq").values_list("enqueued_at", flat=True)).count(
                None
            )
            == 1
        )
    wait_until(
        lambda: (
            execution.sweep_chunks() and state_of(op) in BulkOperation.TERMINAL_STATES
        ),
        timeout=30,
        interval=0.25,
    )
    assert op.state == BulkOperation.State.SUCCEEDED, worker.output()
    assert op.done_count == 8 and len(spy.calls) == 4
    assert set(spy.per_row().values()) == {1}
    since_confirm = [round(t - confirmed_at, 2) for t in spy.times]
    if rate:
        # 2-item chunks at 2 items a second: the k-th batch call never before k seconds.
        assert all(t >= k - 0.02 for k, t in enumerate(since_confirm)), since_confirm
        assert since_confirm[-1] < 6.0, since_confirm
    else:
        assert since_confirm[-1] < 1.5, since_confirm


# --- giving a poison chunk up --------------------------------------------------------------------


@pytest.fixture
def dying(settings: Any, bulk_queue: str) -> None:
    """Short leases so a dead delivery's chunk is the sweeper's after a second."""
    settings.WORKROOM_BULK_LEASE_SECONDS = 1
    settings.WORKROOM_BULK_SWEEP_AFTER = 1
    settings.WORKROOM_BULK_MAX_ATTEMPTS = 3


def die_after_claim(chunk: BulkChunk, owner: str) -> BulkChunk:
    """A delivery that claims the chunk and is killed before it records anything."""
    claimed = execution.claim_chunk(chunk.pk, owner)
    assert claimed is not None, f"{owner} could not claim {chunk}"
    return claimed


def die_after_sending(ws: Workspace, chunk: BulkChunk, owner: str) -> None:
    """A delivery killed right after its batch call reached Control Room: its items were
    marked in flight (as `_run_items` does) and sent, and nothing more was recorded."""
    die_after_claim(chunk, owner)
    items = BulkItem.objects.filter(chunk=chunk, state=BulkItem.State.QUEUED)
    externals = list(items.values_list("external_id", flat=True))
    assert items.update(state=BulkItem.State.IN_FLIGHT) == len(externals)
    with build_client(ws) as client:
        client.work_items.batch("retry", externals)


def lease_expires_then_sweep() -> dict[str, int]:
    time.sleep(1.1)
    return execution.sweep_chunks()


def test_a_chunk_whose_deliveries_keep_dying_is_given_up(db, ws, emu, bob, spy, dying):
    seed_failed(emu, 4)
    full_sync(ws)
    op = confirmed(bob)
    chunk = op.chunks.get()
    for n in (1, 2):
        die_after_claim(chunk, f"dead-{n}")
        assert lease_expires_then_sweep()["orphaned"] == 1
    die_after_claim(chunk, "dead-3")
    stats = lease_expires_then_sweep()
    assert stats["given_up"] == 1 and stats["finished"] == 1
    chunk.refresh_from_db()
    assert chunk.state == BulkChunk.State.FAILED and chunk.attempts == 3
    assert "Gave up after 3 attempts" in chunk.last_error
    op.refresh_from_db()
    assert op.state == BulkOperation.State.FAILED
    assert (op.done_count, op.failed_count) == (0, 4)
    reasons = set(BulkItem.objects.filter(operation=op).values_list("state", "reason"))
    assert reasons == {
        ("failed", "Gave up after 3 attempts: the chunk's worker kept dying.")
    }
    # A late redelivery of its message does nothing; nothing ever reached Control Room.
    assert execution.run_chunk(chunk.pk).status == "noop"
    assert spy.calls == []
    assert AuditEvent.objects.filter(
        object_id=str(op.pk), action="bulk.retry.finished"
    ).exists()


def test_a_given_up_chunk_is_never_sent_twice(db, ws, emu, bob, spy, dying, settings):
    settings.WORKROOM_BULK_CHUNK_SIZE = 3
    seed_failed(emu, 6)
    full_sync(ws)
    op = confirmed(bob)
    healthy, poison = op.chunks.order_by("seq")
    assert execution.run_chunk(healthy.pk).status == "done"
    die_after_sending(ws, poison, "dead-1")
    assert lease_expires_then_sweep()["orphaned"] == 1
    for n in (2, 3):
        die_after_claim(poison, f"dead-{n}")
        stats = lease_expires_then_sweep()
    assert stats["given_up"] == 1
    assert execution.run_chunk(poison.pk).status == "noop"
    op.refresh_from_db()
    assert op.state == BulkOperation.State.PARTIALLY_FAILED
    assert (op.done_count, op.failed_count) == (3, 3)
    failed = BulkItem.objects.filter(operation=op, chunk=poison)
    assert set(failed.values_list("state", flat=True)) == {"failed"}
    for reason in failed.values_list("reason", flat=True):
        assert reason.startswith("Gave up after 3 attempts")
        assert "outcome is unknown" in reason  # the dead delivery may have sent them
    # Every id reached Control Room exactly once: the poison chunk's only by the first delivery.
    assert set(spy.per_row().values()) == {1} and len(spy.per_row()) == 6
    assert len(spy.calls) == 2


# --- the selection cap -------------------------------------------------------------------------


def test_a_selection_over_the_cap_is_refused_at_preview(
    db, ws, emu, bob, client_for, settings
):
    settings.WORKROOM_BULK_MAX_ITEMS = 5
    seed_failed(emu, 8)
    full_sync(ws)
    client = client_for(bob)
    response = client.post(
        "/bulk/new/",
        {"action": "retry", "selection": "filter", "filter": "state=failed"},
    )
    assert response.status_code == 400
    assert (
        b"8 items match; one operation may hold at most 5. Narrow the filter."
        in response.content
    )
    ids = [str(i) for i in failed_ids(ws)]
    response = client.post(
        "/bulk/new/", {"action": "retry", "selection": "ids", "ids": ids[:6]}
    )
    assert response.status_code == 400
    assert b"6 items match; one operation may hold at most 5." in response.content
    assert not BulkOperation.objects.exists()
    response = client.post(
        "/bulk/new/", {"action": "retry", "selection": "ids", "ids": ids[:5]}
    )
    assert response.status_code == 302
    assert BulkOperation.objects.get().total == 5


# --- cancel while a worker runs ------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
@pytest.mark.slow
def test_cancel_while_a_worker_sends_a_chunk(
    ws, emu, bob, spy, start_worker, settings, client_for, redis_client, tuned
):
    settings.WORKROOM_BULK_CHUNK_SIZE = 2
    settings.WORKROOM_BULK_MAX_ITEMS_PER_MINUTE = 0
    seed_failed(emu, 8)
    full_sync(ws)
    # The batch call takes 1.5 s, so the cancel lands while the first chunk is on the wire.
    emu.faults.add(kind="latency", latency_ms=1500, path=r"/work-items/batch$")
    worker = start_worker()
    op = confirmed(bob)
    wait_until(
        lambda: BulkItem.objects.filter(operation=op, state="in_flight").exists(),
        timeout=30,
    )
    started = BulkChunk.objects.get(operation=op, state=BulkChunk.State.RUNNING)
    page = client_for(bob).post(f"/bulk/{op.pk}/cancel/", follow=True)
    assert b"Cancel requested: 3 chunks not started will not run." in page.content
    wait_until(lambda: state_of(op) in BulkOperation.TERMINAL_STATES, timeout=30)
    # Let the cancelled chunks' messages be delivered: each must do nothing.
    queue = tuned["WORKROOM_BULK_QUEUE"]
    wait_until(lambda: redis_client.llen(queue) == 0, timeout=10)
    time.sleep(0.5)
    assert op.state == BulkOperation.State.CANCELLED, worker.output()
    assert (op.done_count, op.cancelled_count, op.failed_count) == (2, 6, 0)
    states = dict(op.chunks.values_list("seq", "state"))
    assert states == {
        started.seq: "done",
        **{s: "cancelled" for s in states if s != started.seq},
    }
    assert len(spy.calls) == 1
    assert set(spy.per_row()) == rows_of(emu, op, chunk=started)
    assert set(spy.per_row().values()) == {1}
    cancelled = BulkItem.objects.filter(operation=op, state="cancelled")
    assert set(cancelled.values_list("reason", flat=True)) == {
        "Cancelled before it was sent."
    }
