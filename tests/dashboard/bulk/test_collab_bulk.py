"""Bulk operations and working together: a bulk retry leaves "verified" items alone unless
included, and a bulk mark done / delete starts after the undo window (cancel = undo)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from dashboard.audit.services import Actor
from dashboard.bulk import drafts, execution
from dashboard.bulk.models import BulkChunk, BulkItem, BulkOperation
from dashboard.mirror.models import WorkItem
from dashboard.workitems import collab
from dashboard.workitems.models import ItemHandling
from tests.dashboard.bulk.helpers import failed_ids, seed_failed
from tests.dashboard.support.sync import full_sync

pytestmark = [pytest.mark.emulator]


def _run_all(op: BulkOperation) -> list[str]:
    return [
        execution.run_chunk(pk).status
        for pk in BulkChunk.objects.filter(operation=op).values_list("pk", flat=True)
    ]


@pytest.mark.parametrize("include", [False, True])
def test_a_bulk_retry_leaves_verified_items_alone_unless_included(
    db, ws, emu, bob, spy, client_for, include
):
    seed_failed(emu, 4)
    full_sync(ws)
    ids = failed_ids(ws)
    verified = list(WorkItem.objects.filter(pk__in=ids[:1]).select_related("workspace"))
    collab.set_review(verified, "verified", Actor.of(bob))
    op = drafts.create_draft(bob, action="retry", ids=ids)
    page = client_for(bob).get(reverse("bulk-detail", args=[op.pk])).content.decode()
    assert 'id="include-verified"' in page and "Retry the 1 item" in page
    response = client_for(bob).post(
        reverse("bulk-confirm", args=[op.pk]),
        {"reason": "ERP is back", **({"include_verified": "on"} if include else {})},
    )
    assert response.status_code == 302
    _run_all(op)
    sent = set(spy.per_row("retry"))
    verified_row = BulkItem.objects.get(operation=op, work_item_id=ids[0])
    if include:
        assert len(sent) == 4 and verified_row.state == BulkItem.State.DONE
    else:
        assert len(sent) == 3 and verified_row.state == BulkItem.State.SKIPPED
        assert "Verified by the team" in verified_row.reason
        assert WorkItem.objects.get(pk=ids[0]).state == "failed"
    # Every item Control Room accepted is now "retried".
    assert ItemHandling.objects.filter(review_status="retried").count() == len(sent)


def test_a_bulk_mark_done_waits_for_the_undo_window_and_cancelling_sends_nothing(
    db, ws, emu, bob, spy, settings, client_for
):
    settings.WORKROOM_UNDO_SECONDS = 30
    seed_failed(emu, 3)
    full_sync(ws)
    op = drafts.create_draft(bob, action="mark_as_done", filter_query="")
    before = timezone.now()
    drafts.confirm(op, bob, reason="business says done")
    chunk = BulkChunk.objects.get(operation=op)
    assert chunk.not_before >= before + timedelta(seconds=29)
    assert _run_all(op) == ["noop"]  # a delivery before the window ends does nothing
    page = client_for(bob).get(reverse("bulk-detail", args=[op.pk])).content.decode()
    assert "Waiting for the undo window" in page
    assert spy.per_row() == {}
    execution.cancel(op, bob)
    op.refresh_from_db()
    assert op.state == BulkOperation.State.CANCELLED and op.cancelled_count == 3
    assert spy.per_row() == {}


def test_a_bulk_retry_is_not_held(db, ws, emu, bob, spy, settings):
    settings.WORKROOM_UNDO_SECONDS = 30
    seed_failed(emu, 2)
    full_sync(ws)
    op = drafts.create_draft(bob, action="retry", filter_query="")
    drafts.confirm(op, bob, reason="transient")
    assert _run_all(op) == ["done"]
    assert len(spy.per_row("retry")) == 2


def test_the_held_start_shows_on_the_preview(db, ws, emu, bob, client_for, settings):
    settings.WORKROOM_UNDO_SECONDS = 7
    seed_failed(emu, 1)
    full_sync(ws)
    op = drafts.create_draft(bob, action="delete", filter_query="")
    page: Any = client_for(bob).get(reverse("bulk-detail", args=[op.pk]))
    assert "Starts 7 s after you confirm" in page.content.decode()
