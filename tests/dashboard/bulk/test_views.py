"""The bulk pages: start from a filter or ticked ids, preview, confirm, progress (286 at the
end), results, cancel; wrong methods and other teams' operations."""

from __future__ import annotations

import pytest

from dashboard.bulk import drafts, execution
from dashboard.bulk.models import BulkChunk, BulkOperation
from tests.dashboard.bulk.helpers import failed_ids, seed_failed
from tests.dashboard.support.sync import full_sync

pytestmark = [pytest.mark.emulator]


@pytest.fixture
def items(db, ws, emu):
    seed_failed(emu, 12)
    full_sync(ws)
    return failed_ids(ws)


def test_new_page_reports_a_bad_filter_like_the_explorer(items, bob, client_for):
    page = client_for(bob).get("/bulk/new/?state=failed&created_from=nope")
    assert page.status_code == 200
    assert "The filter is not valid (Created from:" in page.content.decode()
    assert b'id="match-total">12<' not in page.content


def test_new_page_counts_the_filter(items, bob, client_for):
    page = client_for(bob).get("/bulk/new/?state=failed&page_size=25&action=retry")
    assert page.status_code == 200
    assert b'id="match-total">12<' in page.content
    assert (
        b'value="state=failed"' in page.content
    )  # paging keys dropped from the filter


def test_post_filter_makes_a_preview(items, bob, client_for):
    client = client_for(bob)
    response = client.post(
        "/bulk/new/",
        {"action": "retry", "selection": "filter", "filter": "state=failed"},
    )
    op = BulkOperation.objects.get()
    assert response.status_code == 302 and response.url == f"/bulk/{op.pk}/"
    page = client.get(response.url)
    assert b"Preview: retry 12 work items" in page.content
    assert b"Retry 12 work items" in page.content


def test_post_explicit_ids(items, bob, client_for):
    response = client_for(bob).post(
        "/bulk/new/",
        {
            "action": "mark_as_done",
            "selection": "ids",
            "ids": [str(i) for i in items[:3]],
        },
    )
    assert response.status_code == 302
    assert BulkOperation.objects.get().total == 3


def test_bad_ids_are_a_clear_400(items, bob, client_for):
    response = client_for(bob).post(
        "/bulk/new/", {"action": "retry", "selection": "ids", "ids": ["x1"]}
    )
    assert response.status_code == 400
    assert b"is not a work item id" in response.content


def test_confirm_needs_a_reason_then_shows_progress(items, bob, client_for, spy):
    client = client_for(bob)
    op = drafts.create_draft(bob, action="retry", filter_query="")
    response = client.post(f"/bulk/{op.pk}/confirm/", {"reason": ""})
    assert response.status_code == 400
    response = client.post(f"/bulk/{op.pk}/confirm/", {"reason": "SAP outage"})
    assert response.status_code == 302
    progress = client.get(f"/bulk/{op.pk}/progress/", HTTP_HX_REQUEST="true")
    assert progress.status_code == 200 and b'hx-trigger="every 1s"' in progress.content
    for chunk_id in BulkChunk.objects.filter(operation=op).values_list("pk", flat=True):
        execution.run_chunk(chunk_id)
    progress = client.get(f"/bulk/{op.pk}/progress/", HTTP_HX_REQUEST="true")
    assert progress.status_code == 286
    assert "bulkFinished" in progress["HX-Trigger"]
    assert b"12 retried" in progress.content
    results = client.get(f"/bulk/{op.pk}/items/?state=done")
    assert results.content.count(b'class="result-done"') == 12


def test_wrong_methods(items, bob, client_for):
    op = drafts.create_draft(bob, action="retry", filter_query="")
    client = client_for(bob)
    assert client.get(f"/bulk/{op.pk}/confirm/").status_code == 405
    assert client.get(f"/bulk/{op.pk}/cancel/").status_code == 405
    assert client.post(f"/bulk/{op.pk}/progress/").status_code == 405


def test_other_teams_cannot_see_or_cancel(items, bob, charlie, carol, client_for):
    op = drafts.create_draft(bob, action="retry", filter_query="")
    assert client_for(charlie).get(f"/bulk/{op.pk}/").status_code == 404
    assert (
        client_for(carol).get(f"/bulk/{op.pk}/").status_code == 404
    )  # a draft is private
    drafts.confirm(op, bob, reason="visible now")
    assert client_for(carol).get(f"/bulk/{op.pk}/").status_code == 200
    assert client_for(carol).post(f"/bulk/{op.pk}/cancel/").status_code == 403
    assert client_for(charlie).post(f"/bulk/{op.pk}/cancel/").status_code == 404


def test_cancel_from_the_page(items, bob, client_for):
    op = drafts.create_draft(bob, action="retry", filter_query="")
    drafts.confirm(op, bob, reason="oops")
    response = client_for(bob).post(f"/bulk/{op.pk}/cancel/")
    assert response.status_code == 302
    op.refresh_from_db()
    assert op.state == BulkOperation.State.CANCELLED and op.cancelled_count == 12


def test_list_shows_own_operations(items, bob, client_for):
    op = drafts.create_draft(bob, action="delete", filter_query="")
    page = client_for(bob).get("/bulk/")
    assert f"/bulk/{op.pk}/".encode() in page.content


def test_retrying_business_exceptions_warns_with_the_count(items, bob, client_for):
    from dashboard.mirror.models import WorkItem

    WorkItem.objects.filter(pk__in=items[:5]).update(exception_type="business")
    WorkItem.objects.filter(pk__in=items[5:]).update(exception_type="application")
    client = client_for(bob)
    retry = client.post(
        "/bulk/new/",
        {"action": "retry", "selection": "filter", "filter": "state=failed"},
    )
    page = client.get(retry.url).content.decode()
    assert 'id="business-warning">5 of these items failed with a' in page
    done = client.post(
        "/bulk/new/",
        {"action": "mark_as_done", "selection": "filter", "filter": "state=failed"},
    )
    assert 'id="business-warning"' not in client.get(done.url).content.decode()


def test_a_preview_can_be_discarded_and_a_confirmed_one_cannot(
    items, bob, client_for, spy
):
    from dashboard.bulk.models import BulkItem

    client = client_for(bob)
    made = client.post(
        "/bulk/new/",
        {"action": "retry", "selection": "filter", "filter": "state=failed"},
    )
    assert 'id="discard-button"' in client.get(made.url).content.decode()
    op = BulkOperation.objects.get()
    gone = client.post(f"/bulk/{op.pk}/discard/", follow=True)
    assert "Preview discarded: nothing was sent." in gone.content.decode()
    assert not BulkOperation.objects.exists() and not BulkItem.objects.exists()
    assert spy.per_row() == {}

    client.post(
        "/bulk/new/",
        {"action": "retry", "selection": "filter", "filter": "state=failed"},
    )
    op = BulkOperation.objects.get()
    drafts.confirm(op, bob, reason="test")
    kept = client.post(f"/bulk/{op.pk}/discard/", follow=True)
    assert "already confirmed" in kept.content.decode()
    assert BulkOperation.objects.filter(pk=op.pk).exists()
