"""The explorer's and triage's entry points into bulk operations, and the item history that
links back: what the pages render is what the bulk views accept."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from django.http import QueryDict

from dashboard.bulk import execution
from dashboard.bulk.models import BulkChunk, BulkOperation
from tests.dashboard.bulk.helpers import failed_ids, seed_failed
from tests.dashboard.support.sync import full_sync

pytestmark = [pytest.mark.emulator]

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def items(db: Any, ws: Any, emu: Any) -> list[int]:
    seed_failed(emu, 12)
    full_sync(ws)
    return failed_ids(ws)


def _hidden(content: bytes, name: str, form_id: str = "bulk-form") -> str:
    """Return the value of a hidden input named `name` inside the form with `form_id`."""
    text = content.decode()
    start = text.index(f'id="{form_id}"')
    form = text[start : text.index("</form>", start)]
    match = re.search(rf'name="{name}" value="([^"]*)"', form)
    assert match, f"no hidden {name} in #{form_id}"
    return html.unescape(match.group(1))


def test_operator_gets_a_checkbox_per_row_and_the_toolbar(
    items: list[int], bob: Any, client_for: Any
) -> None:
    page = client_for(bob).get("/items/?state=failed&page_size=25")
    body = page.content.decode()
    assert page.status_code == 200
    assert 'id="bulk-form"' in body and 'action="/bulk/new/"' in body
    for pk in items:
        assert f'name="ids" value="{pk}" form="bulk-form"' in body
    assert (
        'id="bulk-select-all-matching"' in body
        and "<strong>12</strong> matching" in body
    )
    assert 'id="bulk-action"' in body and 'id="bulk-submit"' in body
    assert 'src="/static/js/bulk.js" defer' in body
    # The filter posted is the current one (bulk drops the paging keys itself).
    assert QueryDict(_hidden(page.content, "filter")).getlist("state") == ["failed"]


def test_htmx_results_carry_the_toolbar_and_the_new_filter(
    items: list[int], bob: Any, client_for: Any
) -> None:
    partial = client_for(bob).get("/items/?state=failed&state=done", **HTMX)
    assert partial.status_code == 200
    assert b"<html" not in partial.content
    assert b'id="bulk-form"' in partial.content
    posted = QueryDict(_hidden(partial.content, "filter"))
    assert posted.getlist("state") == ["failed", "done"]


def test_a_viewer_gets_no_selection(
    items: list[int], carol: Any, client_for: Any
) -> None:
    body = client_for(carol).get("/items/?state=failed").content.decode()
    assert 'id="bulk-form"' not in body and 'name="ids"' not in body
    assert 'id="bulk-select-page"' not in body


def test_ticked_rows_become_a_preview_of_exactly_them(
    items: list[int], bob: Any, client_for: Any
) -> None:
    client = client_for(bob)
    page = client.get("/items/?state=failed")
    response = client.post(
        "/bulk/new/",
        {
            "csrfmiddlewaretoken": _hidden(page.content, "csrfmiddlewaretoken"),
            "filter": _hidden(page.content, "filter"),
            "selection": "ids",
            "action": "mark_as_done",
            "ids": [str(pk) for pk in items[:3]],
        },
    )
    assert response.status_code == 302
    op = BulkOperation.objects.get()
    assert (op.total, op.selection, op.action) == (3, "ids", "mark_as_done")


def test_all_matching_posts_the_filter_not_the_ids(
    items: list[int], bob: Any, client_for: Any
) -> None:
    client = client_for(bob)
    page = client.get("/items/?state=failed&page_size=25")
    response = client.post(
        "/bulk/new/",
        {
            "filter": _hidden(page.content, "filter"),
            "selection": "filter",
            "action": "retry",
            "ids": [str(items[0])],  # a ticked row does not narrow "all matching"
        },
    )
    assert response.status_code == 302
    op = BulkOperation.objects.get()
    assert (op.total, op.selection, op.filter_query) == (12, "filter", "state=failed")


def test_nothing_ticked_is_a_clear_400(
    items: list[int], bob: Any, client_for: Any
) -> None:
    response = client_for(bob).post(
        "/bulk/new/", {"filter": "state=failed", "selection": "ids", "action": "retry"}
    )
    assert response.status_code == 400
    assert b"No work item matches this selection." in response.content
    assert not BulkOperation.objects.exists()


def test_triage_group_posts_its_filter_to_the_preview(
    items: list[int], bob: Any, client_for: Any
) -> None:
    client = client_for(bob)
    triage = client.get("/items/triage/")
    body = triage.content.decode()
    assert 'class="inline-form bulk-group-form"' in body
    start = body.index("bulk-group-form")
    form = body[start : body.index("</form>", start)]
    fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', form))
    fields = {k: html.unescape(v) for k, v in fields.items()}
    assert fields["selection"] == "filter" and "state=failed" in fields["filter"]
    size = re.search(r"(?:Retry all|Mark all) (\d+)", form)
    assert size
    response = client.post("/bulk/new/", fields)
    assert response.status_code == 302
    assert client.get(response.url).status_code == 200
    op = BulkOperation.objects.get()
    assert op.selection == "filter" and op.total == int(size.group(1)) > 0


def test_triage_hides_bulk_buttons_from_viewers(
    items: list[int], carol: Any, client_for: Any
) -> None:
    assert b"bulk-group-form" not in client_for(carol).get("/items/triage/").content


def test_item_history_links_the_operations_that_touched_it(
    items: list[int], bob: Any, client_for: Any, spy: Any
) -> None:
    client = client_for(bob)
    client.post(
        "/bulk/new/",
        {"selection": "ids", "action": "retry", "ids": [str(items[0])]},
    )
    op = BulkOperation.objects.get()
    client.post(f"/bulk/{op.pk}/confirm/", {"reason": "SAP outage"})
    for chunk_id in BulkChunk.objects.filter(operation=op).values_list("pk", flat=True):
        execution.run_chunk(chunk_id)
    touched = client.get(f"/items/{items[0]}/").content.decode()
    history = touched[touched.index('class="history"') :]
    assert f'href="/bulk/{op.pk}/"' in history and "SAP outage" in history
    untouched = client.get(f"/items/{items[1]}/").content.decode()
    assert f'href="/bulk/{op.pk}/"' not in untouched
