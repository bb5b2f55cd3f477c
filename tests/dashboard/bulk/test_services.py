"""The bulk services in-process against the emulator: preview, eligibility, drift, claims,
execution with re-checks, reconciliation after ambiguous answers, cancel."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from dashboard.accounts.models import Role
from dashboard.audit.models import AuditEvent
from dashboard.bulk import drafts, execution
from dashboard.bulk.models import BulkChunk, BulkItem, BulkOperation
from dashboard.mirror.models import ProcessRun, WorkItem
from tests.dashboard.bulk.helpers import failed_ids, reread, seed_failed
from tests.dashboard.factories import add_member, make_user, make_workspace_row
from tests.dashboard.support.sync import full_sync

pytestmark = [pytest.mark.emulator]


def run_all(op: BulkOperation) -> None:
    for chunk_id in BulkChunk.objects.filter(operation=op).values_list("pk", flat=True):
        execution.run_chunk(chunk_id)


def test_preview_freezes_the_filter_and_counts(db, ws, emu, bob, settings):
    seed_failed(emu, 30)
    full_sync(ws)
    op = drafts.create_draft(bob, action="retry", filter_query="state=failed")
    assert op.state == BulkOperation.State.DRAFT
    assert op.total == 30 and op.ineligible == 0
    crumbs = drafts.breakdown(op)
    assert crumbs.by_workspace == [("Bulk WS", 30)]
    assert crumbs.by_state == [("failed", 30)]
    assert sum(n for *_x, n in crumbs.by_exception) == 30
    assert not BulkItem.objects.filter(operation=op).exclude(state="pending").exists()


def test_invalid_filter_is_refused_not_widened(db, ws, emu, bob):
    seed_failed(emu, 3)
    full_sync(ws)
    with pytest.raises(drafts.SelectionError, match="not valid"):
        drafts.create_draft(bob, action="retry", filter_query="created_from=nope")


def test_ineligible_items_are_listed_with_reasons(db, ws, emu, bob, team_a):
    seed_failed(emu, 4)
    full_sync(ws)
    WorkItem.objects.filter(pk=failed_ids(ws)[0]).update(state="done")
    viewer_ws = make_workspace_row(team_a, name="Other")
    op = drafts.create_draft(bob, action="mark_as_done", filter_query="")
    reasons = dict(drafts.breakdown(op).ineligible)
    assert reasons == {"Not failed (it is done).": 1}
    assert op.total == 3
    ws.permissions["write_work_items"] = False
    ws.save()
    op2 = drafts.create_draft(bob, action="retry", filter_query="")
    assert op2.total == 0
    assert "lacks Processes.write_work_items" in next(
        iter(dict(drafts.breakdown(op2).ineligible))
    )
    assert viewer_ws.pk  # a workspace with no items adds nothing


def test_a_viewer_gets_every_item_ineligible(db, ws, emu, carol):
    seed_failed(emu, 2)
    full_sync(ws)
    op = drafts.create_draft(carol, action="retry", filter_query="")
    assert op.total == 0
    assert dict(drafts.breakdown(op).ineligible) == {
        "You are only a viewer in Team A.": 2
    }


def test_other_teams_items_are_never_selected(db, ws, emu, charlie, team_b):
    seed_failed(emu, 2)
    full_sync(ws)
    with pytest.raises(drafts.SelectionError, match="No work item"):
        drafts.create_draft(charlie, action="retry", ids=failed_ids(ws))


def test_confirm_runs_the_frozen_set_and_audits(db, ws, emu, bob, spy):
    seed_failed(emu, 25)
    full_sync(ws)
    op = drafts.create_draft(bob, action="retry", filter_query="state=failed")
    with pytest.raises(drafts.SelectionError, match="reason"):
        drafts.confirm(op, bob, reason="  ")
    drafts.confirm(op, bob, reason="SAP was down")
    op.refresh_from_db()
    assert op.state == BulkOperation.State.QUEUED
    assert op.chunks.count() == 1  # default 100 per chunk
    run_all(op)
    op.refresh_from_db()
    assert op.state == BulkOperation.State.SUCCEEDED
    assert op.done_count == 25
    assert set(spy.per_row("retry").values()) == {1}
    assert len(spy.per_row()) == 25
    assert set(
        WorkItem.objects.filter(workspace=ws).values_list("state", flat=True)
    ) == {"pending"}
    # The operation's events (an event of another model may have the same object id).
    actions = set(
        AuditEvent.objects.filter(
            object_type=op._meta.label_lower, object_id=str(op.pk)
        ).values_list("action", flat=True)
    )
    assert actions == {"bulk.retry.confirmed", "bulk.retry.finished"}


def test_chunks_follow_the_chunk_size(db, ws, emu, bob, settings, spy):
    settings.WORKROOM_BULK_CHUNK_SIZE = 7
    seed_failed(emu, 20)
    full_sync(ws)
    op = drafts.create_draft(bob, action="mark_as_done", filter_query="")
    drafts.confirm(op, bob, reason="business failures")
    assert list(op.chunks.values_list("size", flat=True)) == [7, 7, 6]
    run_all(op)
    assert len(spy.calls) == 3
    assert all(len(rows) <= 7 for _op, rows in spy.calls)


def test_drift_is_reported_and_changed_items_are_skipped(db, ws, emu, bob, spy):
    seed_failed(emu, 10)
    full_sync(ws)
    op = drafts.create_draft(bob, action="retry", filter_query="state=failed")
    # Someone marks two items done in Control Room; the next sync sees it.
    with emu.store.lock:
        rows = [emu.store.items.parse_id(e) for e in _external(ws, 2)]
    emu.store.batch("mark_as_done", rows)
    spy.calls.clear()
    reread(ws, _external(ws, 2))
    found = drafts.drift(op, bob)
    # Changed, not also "removed": each previewed item is counted once (issue 11 (m)).
    assert found.changed == 2 and found.removed == 0 and found.added == 0
    drafts.confirm(op, bob, reason="retry the rest")
    op.refresh_from_db()
    assert op.drift_changed == 2
    run_all(op)
    op.refresh_from_db()
    assert (op.done_count, op.skipped_count) == (8, 2)
    assert len(spy.per_row()) == 8
    skipped = BulkItem.objects.get(
        operation=op, state="skipped", external_id=_external(ws, 1)[0]
    )
    assert "now done" in skipped.reason


def test_stale_mirror_rows_are_reread_before_sending(db, ws, emu, bob, spy, settings):
    settings.WORKROOM_BULK_STALE_SECONDS = 5
    seed_failed(emu, 6)
    full_sync(ws)
    op = drafts.create_draft(bob, action="retry", filter_query="")
    drafts.confirm(op, bob, reason="stale check")
    # Control Room changes 3 items; the mirror does not know, but is old.
    rows = [emu.store.items.parse_id(e) for e in _external(ws, 3)]
    emu.store.batch("mark_as_done", rows)
    spy.calls.clear()
    WorkItem.objects.filter(workspace=ws).update(
        last_seen_at=timezone.now() - timedelta(seconds=60)
    )
    run_all(op)
    op.refresh_from_db()
    assert (op.done_count, op.skipped_count) == (3, 3)
    assert len(spy.per_row()) == 3


def test_a_502_after_apply_is_reconciled_not_resent(db, ws, emu, bob, spy):
    seed_failed(emu, 12)
    full_sync(ws)
    emu.faults.add(
        kind="error", status=502, path=r"/work-items/batch$", after_apply=True, times=1
    )
    op = drafts.create_draft(bob, action="retry", filter_query="")
    drafts.confirm(op, bob, reason="reconcile")
    run_all(op)
    op.refresh_from_db()
    assert op.state == BulkOperation.State.SUCCEEDED, op.chunks.get().last_error
    assert op.done_count == 12
    assert set(spy.per_row().values()) == {1}
    assert (
        BulkItem.objects.filter(operation=op, reason__contains="re-reading").count()
        == 12
    )


def test_a_dropped_answer_is_ambiguous_and_reconciled(db, ws, emu, bob, spy):
    seed_failed(emu, 5)
    full_sync(ws)
    emu.faults.add(kind="drop", path=r"/work-items/batch$", after_apply=True, times=1)
    op = drafts.create_draft(bob, action="mark_as_done", filter_query="")
    drafts.confirm(op, bob, reason="ambiguous")
    run_all(op)
    op.refresh_from_db()
    assert op.done_count == 5
    assert set(spy.per_row().values()) == {1}


def test_a_502_before_apply_resends_only_after_the_reread(
    db, ws, emu, bob, spy, settings
):
    settings.WORKROOM_BULK_RETRY_BASE = 0
    seed_failed(emu, 4)
    full_sync(ws)
    emu.faults.add(kind="error", status=502, path=r"/work-items/batch$", times=1)
    op = drafts.create_draft(bob, action="retry", filter_query="")
    drafts.confirm(op, bob, reason="not applied")
    chunk = op.chunks.get()
    outcome = execution.run_chunk(chunk.pk)
    assert outcome.status == "released"
    assert spy.per_row() == {}  # the failing call never reached the store
    BulkChunk.objects.filter(pk=chunk.pk).update(not_before=timezone.now())
    assert execution.run_chunk(chunk.pk).status == "done"
    assert set(spy.per_row().values()) == {1} and len(spy.per_row()) == 4


def test_duplicate_delivery_of_a_finished_chunk_does_nothing(db, ws, emu, bob, spy):
    seed_failed(emu, 3)
    full_sync(ws)
    op = drafts.create_draft(bob, action="retry", filter_query="")
    drafts.confirm(op, bob, reason="dup")
    chunk = op.chunks.get()
    assert execution.run_chunk(chunk.pk).status == "done"
    assert execution.run_chunk(chunk.pk).status == "noop"
    assert len(spy.calls) == 1


def test_cancel_stops_chunks_not_started(db, ws, emu, bob, spy, settings):
    settings.WORKROOM_BULK_CHUNK_SIZE = 2
    seed_failed(emu, 6)
    full_sync(ws)
    op = drafts.create_draft(bob, action="retry", filter_query="")
    drafts.confirm(op, bob, reason="cancel me")
    first = op.chunks.order_by("seq")[0]
    execution.run_chunk(first.pk)
    assert execution.cancel(op, bob) == 2
    op.refresh_from_db()
    assert op.state == BulkOperation.State.CANCELLED
    assert (op.done_count, op.cancelled_count) == (2, 4)
    assert len(spy.per_row()) == 2


@pytest.mark.django_db(transaction=True)
def test_overlapping_operations_of_two_operators_never_double_apply(
    ws, emu, bob, alice, spy
):
    seed_failed(emu, 40)
    full_sync(ws)
    ids = failed_ids(ws)
    op_a = drafts.create_draft(bob, action="retry", ids=ids[:30])
    op_b = drafts.create_draft(alice, action="retry", ids=ids[10:])
    errors: list[BaseException] = []

    def confirm(op: BulkOperation, user: Any) -> None:
        try:
            drafts.confirm(op, user, reason="overlap")
        except BaseException as err:
            errors.append(err)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=confirm, args=(op_a, bob)),
        threading.Thread(target=confirm, args=(op_b, alice)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    claims = BulkItem.objects.filter(state__in=BulkItem.CLAIM_STATES)
    assert claims.count() == len(set(claims.values_list("work_item_id", flat=True)))
    runners = [
        threading.Thread(target=_run_and_close, args=(op,)) for op in (op_a, op_b)
    ]
    for t in runners:
        t.start()
    for t in runners:
        t.join()
    op_a.refresh_from_db()
    op_b.refresh_from_db()
    assert set(spy.per_row("retry").values()) == {1}
    assert len(spy.per_row()) == 40
    assert op_a.done_count + op_b.done_count == 40
    assert (
        op_a.skipped_count + op_b.skipped_count == 20
    )  # the overlap, reported once each


def _run_and_close(op: BulkOperation) -> None:
    try:
        run_all(op)
    finally:
        connection.close()


def test_a_viewer_added_later_cannot_confirm_someone_elses_preview(db, ws, emu, bob):
    seed_failed(emu, 2)
    full_sync(ws)
    op = drafts.create_draft(bob, action="retry", filter_query="")
    other = make_user("dora")
    add_member(ws.team, other, Role.OPERATOR)
    with pytest.raises(drafts.SelectionError, match="Only the operator"):
        drafts.confirm(op, other, reason="mine now")


def test_a_bulk_retry_flags_the_run_for_the_next_sync(db, ws, emu, bob, spy):
    seed_failed(emu, 4)
    full_sync(ws)
    ProcessRun.objects.filter(workspace=ws).update(needs_refresh=False)
    op = drafts.create_draft(bob, action="retry", filter_query="")
    drafts.confirm(op, bob, reason="same as a single retry")
    run_all(op)
    assert list(
        ProcessRun.objects.filter(workspace=ws).values_list("needs_refresh", flat=True)
    ) == [True]


def test_an_operator_demoted_after_confirming_stops_acting(
    db, ws, emu, bob, spy, settings
):
    settings.WORKROOM_BULK_CHUNK_SIZE = 2
    seed_failed(emu, 5)
    full_sync(ws)
    op = drafts.create_draft(bob, action="retry", filter_query="")
    drafts.confirm(op, bob, reason="before the demotion")
    chunks = list(BulkChunk.objects.filter(operation=op).order_by("seq"))
    execution.run_chunk(chunks[0].pk)
    ws.team.memberships.filter(user=bob).update(role=Role.VIEWER)
    assert execution.run_chunk(chunks[1].pk).status == "cancelled"
    op.refresh_from_db()
    # The chunk that found the right gone cancelled the rest of the operation, untouched.
    assert op.state == BulkOperation.State.CANCELLED
    assert (op.done_count, op.cancelled_count) == (2, 3)
    assert "bob may not act in Team A" in op.cancel_reason
    assert sum(spy.per_row().values()) == 2
    assert set(
        BulkChunk.objects.filter(operation=op).values_list("state", flat=True)
    ) == {BulkChunk.State.DONE, BulkChunk.State.CANCELLED}
    reasons = set(
        BulkItem.objects.filter(operation=op, state="cancelled").values_list(
            "reason", flat=True
        )
    )
    assert len(reasons) == 1 and "operator role is needed" in reasons.pop()
    assert WorkItem.objects.filter(workspace=ws, state="failed").count() == 3


def _external(ws: Any, n: int) -> list[str]:
    return list(
        WorkItem.objects.filter(workspace=ws)
        .order_by("pk")
        .values_list("external_id", flat=True)[:n]
    )
