"""Bulk operations at scale: the frozen preview written as plain rows, and a large operation
reading the failed list once instead of re-reading every stale item (one GET each)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from dashboard.bulk import drafts, execution, freshness, selectors
from dashboard.bulk.models import BulkChunk, BulkItem, BulkOperation
from dashboard.mirror.models import Process, WorkItem
from dashboard.workitems.models import FailureGroupRollup
from tests.dashboard.bulk.helpers import seed_failed
from tests.dashboard.support.sync import full_sync

pytestmark = [pytest.mark.emulator]


def run_all(op: BulkOperation) -> None:
    for chunk_id in BulkChunk.objects.filter(operation=op).values_list("pk", flat=True):
        execution.run_chunk(chunk_id)


def test_the_frozen_rows_keep_every_field(db, ws, emu, bob):
    seed_failed(emu, 5)
    full_sync(ws)
    WorkItem.objects.filter(workspace=ws).order_by("pk").first().delete()  # type: ignore[union-attr]
    op = drafts.create_draft(bob, action="retry", filter_query="")
    rows = list(BulkItem.objects.filter(operation=op).order_by("work_item_id"))
    mirror = {w.pk: w for w in WorkItem.objects.filter(workspace=ws)}
    assert len(rows) == 4 == op.total
    for row in rows:
        item = mirror[row.work_item_id]
        assert (row.external_id, row.workspace_id, row.process_id) == (
            item.external_id,
            item.workspace_id,
            item.process_id,
        )
        assert row.preview_state == "failed" and row.state == "pending"
        assert row.preview_state_updated_at == item.state_updated_at
        assert row.process_name == "Invoices" and row.patched_payload is None


def test_a_patched_preview_stores_each_payload_as_json(db, ws, emu, bob):
    seed_failed(emu, 3)
    full_sync(ws)
    op = drafts.create_draft(
        bob,
        action="retry_with_patch",
        filter_query="",
        patch={"fixed": True},
        patch_kind="merge",
    )
    payloads = list(
        BulkItem.objects.filter(operation=op).values_list("patched_payload", flat=True)
    )
    assert len(payloads) == 3
    assert all(p is not None and p["fixed"] is True for p in payloads), payloads


@pytest.mark.parametrize("large", [True, False])
def test_a_large_operation_reads_the_failed_list_once_instead_of_each_stale_item(
    db, ws, emu, bob, settings, monkeypatch, large
):
    settings.WORKROOM_BULK_CHUNK_SIZE = 10
    monkeypatch.setattr(freshness, "MIN_ITEMS", 20 if large else 1000)
    seed_failed(emu, 40)
    full_sync(ws)
    # Stale: seen by a sync long ago (a long failed list is not touched on every sync).
    WorkItem.objects.filter(workspace=ws).update(
        last_seen_at=timezone.now() - timedelta(hours=1)
    )
    op = drafts.create_draft(bob, action="retry", filter_query="state=failed")
    # Retried in Control Room behind our back: the listing no longer shows it failed, so
    # it is still re-read on its own and skipped, never reported as sent.
    moved = BulkItem.objects.filter(operation=op).order_by("pk").first()
    assert moved is not None
    emu.store.retry_single(emu.store.get_item(moved.external_id))
    drafts.confirm(op, bob, reason="scale")
    emu.stats.reset()
    run_all(op)
    op.refresh_from_db()
    by_route = emu.stats.snapshot()["by_route"]
    gets = sum(
        n
        for route, n in by_route.items()
        if route.startswith("GET") and "work-items/" in route
    )
    lists = sum(
        n
        for route, n in by_route.items()
        if route.startswith("GET") and route.endswith("/work-items")
    )
    assert op.state == BulkOperation.State.SUCCEEDED, op.state
    assert op.done_count == 39 and op.skipped_count == 1
    skipped = BulkItem.objects.get(operation=op, state=BulkItem.State.SKIPPED)
    assert skipped.pk == moved.pk and "no longer failed" in skipped.reason
    if large:
        assert (lists, gets) == (1, 1), by_route  # one page of the list; the moved item
    else:
        assert (lists, gets) == (0, 40), by_route  # every stale item re-read


def test_a_multi_chunk_operation_leaves_triage_and_the_process_counts_recounted(
    db, ws, emu, bob, settings
):
    # Chunks recount at most every few seconds; the finished operation recounts once more,
    # so the last chunks' items are never left counted as failed.
    settings.WORKROOM_BULK_CHUNK_SIZE = 10
    seed_failed(emu, 30)
    full_sync(ws)
    rollup = FailureGroupRollup.objects.filter(workspace=ws)
    assert sum(rollup.values_list("count", flat=True)) == 30
    op = drafts.create_draft(bob, action="retry", filter_query="state=failed")
    drafts.confirm(op, bob, reason="scale")
    run_all(op)
    op.refresh_from_db()
    assert op.state == BulkOperation.State.SUCCEEDED and op.done_count == 30
    assert not rollup.exists()
    assert Process.objects.get(workspace=ws).item_counts == {"pending": 30}


def test_a_confirm_writes_chunks_and_each_chunk_claims_its_own_items(
    db, ws, emu, bob, settings, spy
):
    settings.WORKROOM_BULK_CHUNK_SIZE = 10
    seed_failed(emu, 25)
    full_sync(ws)
    op = drafts.create_draft(bob, action="retry", filter_query="state=failed")
    drafts.confirm(op, bob, reason="scale")
    items = BulkItem.objects.filter(operation=op)
    # Nothing claimed yet, but held: another preview finds them taken, and the results
    # show them queued.
    assert set(items.values_list("state", flat=True)) == {"pending"}
    assert selectors.results(op, "queued").count() == 25
    other = drafts.create_draft(bob, action="retry", filter_query="state=failed")
    assert other.total == 0 and other.ineligible == 25
    first = BulkChunk.objects.filter(operation=op).order_by("seq").first()
    assert first is not None
    execution.run_chunk(first.pk)
    assert items.filter(chunk=first, state="done").count() == 10
    assert items.filter(state="pending").count() == 15
    run_all(op)
    op.refresh_from_db()
    assert op.state == BulkOperation.State.SUCCEEDED and op.done_count == 25
    assert max(spy.per_row().values()) == 1 and len(spy.per_row()) == 25


def test_items_claimed_by_another_operation_before_their_chunk_runs_are_skipped(
    db, ws, emu, bob, settings, spy, monkeypatch
):
    # Two confirms at once: neither saw the other's items held, so the chunks' claims meet
    # at the partial unique index; each item is sent once, by one operation.
    settings.WORKROOM_BULK_CHUNK_SIZE = 10
    seed_failed(emu, 12)
    full_sync(ws)
    first = drafts.create_draft(bob, action="retry", filter_query="state=failed")
    second = drafts.create_draft(bob, action="retry", filter_query="state=failed")
    monkeypatch.setattr(
        BulkItem,
        "held",
        classmethod(lambda cls: cls.objects.filter(state__in=cls.CLAIM_STATES)),
    )
    drafts.confirm(first, bob, reason="first")
    drafts.confirm(second, bob, reason="second")
    chunk = BulkChunk.objects.filter(operation=second).order_by("seq").first()
    assert chunk is not None
    # The second operation's first chunk claims its 10 items first (and is held up).
    assert execution.claim_chunk(chunk.pk, "slow") is not None
    run_all(first)
    BulkChunk.objects.filter(pk=chunk.pk).update(
        lease_until=timezone.now() - timedelta(seconds=1)
    )
    run_all(second)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.done_count, first.skipped_count) == (2, 10)
    assert (second.done_count, second.skipped_count) == (10, 2)
    assert (
        BulkItem.objects.filter(
            operation=first,
            state="skipped",
            reason=f"Already being processed by bulk operation #{second.pk}.",
        ).count()
        == 10
    )
    assert max(spy.per_row().values()) == 1 and len(spy.per_row()) == 12


def test_cancelling_before_a_chunk_ran_cancels_its_unclaimed_items(
    db, ws, emu, bob, settings, spy
):
    settings.WORKROOM_BULK_CHUNK_SIZE = 10
    seed_failed(emu, 15)
    full_sync(ws)
    op = drafts.create_draft(bob, action="retry", filter_query="state=failed")
    drafts.confirm(op, bob, reason="scale")
    assert execution.cancel(op, bob) == 2
    op.refresh_from_db()
    assert op.state == BulkOperation.State.CANCELLED and op.cancelled_count == 15
    assert set(
        BulkItem.objects.filter(operation=op).values_list("state", flat=True)
    ) == {"cancelled"}
    assert not spy.calls
    again = drafts.create_draft(bob, action="retry", filter_query="state=failed")
    assert again.total == 15  # no longer held
