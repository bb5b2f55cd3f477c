"""The work item explorer: scope, filters, keyset paging, counts, saved views, CSV, queries."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import connection
from django.db.models import Count
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from dashboard.mirror.models import WorkItem
from dashboard.workitems import selectors
from dashboard.workitems.models import SavedView
from tests.dashboard.workitems.conftest import make_items, make_process

pytestmark = pytest.mark.django_db
URL = reverse("workitems-item-list")


def _ids(response: Any) -> list[str]:
    return re.findall(r'id="item-row-(\d+)"', response.content.decode())


def test_it_lists_only_the_users_workspaces(client_for, alice, charlie, ws_a, ws_b):
    mine = make_items(make_process(ws_a), 3)
    theirs = make_items(make_process(ws_b), 2)
    body = client_for(alice).get(URL)
    assert body.status_code == 200
    assert sorted(_ids(body)) == sorted(str(i.pk) for i in mine)
    assert sorted(_ids(client_for(charlie).get(URL))) == sorted(
        str(i.pk) for i in theirs
    )


def test_it_needs_login(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert "/login/" in response["Location"]


def test_filters_narrow_the_list(client_for, alice, ws_a):
    proc = make_process(ws_a, "Invoices")
    other = make_process(ws_a, "Orders")
    make_items(proc, 3, state="done")
    timeout = make_items(
        proc,
        2,
        state="failed",
        start=10,
        exception_type="application",
        exception_code="TIMEOUT",
        exception_message="Timed out after 30000 ms calling SAP",
    )
    business = make_items(
        other,
        1,
        state="failed",
        start=20,
        exception_type="business",
        exception_code="INVALID_IBAN",
        exception_message="IBAN DE00 is invalid for anna@example.com",
    )
    WorkItem.objects.filter(pk=business[0].pk).update(
        payload={"customer": {"iban": "DE00 1234"}}
    )
    c = client_for(alice)
    cases = {
        f"?process={proc.pk}&state=failed": timeout,
        "?exception_code=TIMEOUT": timeout,
        "?exception_type=business": business,
        "?message=timed+out": timeout,
        "?payload=de00+1234": business,
        f"?signature={timeout[0].message_signature}": timeout,
        "?state=failed&state=done&process=" + str(other.pk): business,
        "?created_from=2026-01-01&created_to=2026-01-01&exception_code=INVALID_IBAN": business,
    }
    for query, expected in cases.items():
        assert sorted(_ids(c.get(URL + query))) == sorted(
            str(i.pk) for i in expected
        ), query


def test_a_bad_filter_is_reported_and_matches_nothing(client_for, alice, ws_a):
    make_items(make_process(ws_a), 2)
    response = client_for(alice).get(
        URL + "?process=abc&created_from=notadate&page_size=7&after=%%%"
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="filter-error"' in html and "The filter is not valid" in html
    assert "Process:" in html and "Created from:" in html
    assert _ids(response) == []  # never widened by dropping the bad fields


def test_bad_paging_falls_back_to_the_defaults(client_for, alice, ws_a):
    make_items(make_process(ws_a), 2)
    response = client_for(alice).get(URL + "?page_size=7&sort=bogus&after=%%%")
    assert response.status_code == 200
    assert 'id="filter-error"' not in response.content.decode()
    assert len(_ids(response)) == 2


def test_the_export_refuses_a_bad_filter(client_for, alice, ws_a):
    make_items(make_process(ws_a), 2)
    response = client_for(alice).get(
        reverse("workitems-item-export") + "?created_from=notadate"
    )
    assert response.status_code == 400
    assert "The filter is not valid (Created from:" in response.content.decode()


def test_another_teams_workspace_filter_shows_nothing(client_for, alice, ws_a, ws_b):
    make_items(make_process(ws_b), 2)
    response = client_for(alice).get(URL + f"?workspace={ws_b.pk}")
    assert response.status_code == 200
    assert _ids(response) == [] or set(_ids(response)).isdisjoint(
        str(i)
        for i in WorkItem.objects.filter(workspace=ws_b).values_list("pk", flat=True)
    )


def _walk(scope: Any, sort: str, *, after: str = "", before: str = "") -> list[int]:
    """Follow next (or previous) cursors 5 rows at a time; return the pks in list order."""
    got: list[int] = []
    while True:
        page = selectors.keyset_page(
            selectors.filtered_items(scope, {}),
            sort=sort,
            page_size=5,
            after=after,
            before=before,
        )
        got = (
            got + [r.pk for r in page.rows]
            if not before
            else [r.pk for r in page.rows] + got
        )
        if before:
            if not page.prev_cursor:
                return got
            before = page.prev_cursor
        else:
            if not page.next_cursor:
                return got
            after = page.next_cursor


@pytest.mark.parametrize("sort", ["-created", "created", "-updated", "updated"])
def test_keyset_pages_have_no_duplicates_or_gaps(client_for, alice, ws_a, sort):
    items = make_items(make_process(ws_a), 23)
    # Ties on the sort key are broken by id, and null "changed" times still appear once.
    WorkItem.objects.filter(pk__in=[i.pk for i in items[:6]]).update(
        created_at=items[0].created_at, state_updated_at=None
    )
    scope = selectors.Scope.for_user(alice)
    forward = _walk(scope, sort)
    assert sorted(forward) == sorted(i.pk for i in items)
    # The page the explorer renders (one page of 25) is the same order.
    assert [
        int(x) for x in _ids(client_for(alice).get(URL + f"?sort={sort}&page_size=25"))
    ] == forward
    # Walking back from the end with `before` cursors rebuilds the same list.
    name, _, _ = selectors._sort(sort)
    last = WorkItem.objects.get(pk=forward[-1])
    tail_start = selectors.encode_cursor(getattr(last, name), last.pk)
    assert _walk(scope, sort, before=tail_start) == forward[:-1]


def test_pager_links_walk_the_whole_list(client_for, alice, ws_a):
    make_items(make_process(ws_a), 60)
    c = client_for(alice)
    seen: list[str] = []
    url = URL + "?page_size=25"
    while url:
        response = c.get(url)
        seen += _ids(response)
        match = re.search(
            r'href="\?([^"]*after=[^"]*)" hx-get', response.content.decode()
        )
        url = URL + "?" + match.group(1).replace("&amp;", "&") if match else ""
    assert len(seen) == 60 and len(set(seen)) == 60


def test_counts_per_state_follow_the_filter(client_for, alice, ws_a):
    proc = make_process(ws_a)
    make_items(proc, 3, state="done")
    make_items(proc, 2, state="failed", start=5, exception_code="X1")
    make_items(proc, 1, state="failed", start=9, exception_code="X2")
    c = client_for(alice)

    def counts(query: str) -> dict[str, int]:
        html = c.get(URL + query).content.decode()
        return {
            s: int(n.replace(",", ""))
            for s, n in re.findall(
                r'badge-(\w+)">[^<]*</span> <strong>([\d,]+)</strong>', html
            )
        }

    assert counts("")["failed"] == 3 and counts("")["done"] == 3
    assert counts("?exception_code=X1") == {
        "new": 0,
        "pending": 0,
        "in_progress": 0,
        "failed": 2,
        "done": 0,
    }
    assert (
        counts("?state=failed")["done"] == 3
    )  # counts ignore the state part of the filter


def test_htmx_gets_only_the_results_partial(client_for, alice, ws_a):
    make_items(make_process(ws_a), 2)
    response = client_for(alice).get(URL, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="results"')
    assert "<html" not in html
    assert len(_ids(response)) == 2


def test_query_count_does_not_grow_with_page_size(client_for, alice, ws_a):
    proc = make_process(ws_a)
    make_items(
        proc, 120, state="failed", exception_type="application", exception_code="E"
    )
    c = client_for(alice)

    def queries(size: int) -> int:
        with CaptureQueriesContext(connection) as ctx:
            response = c.get(
                URL + f"?page_size={size}&exception_code=E", HTTP_HX_REQUEST="true"
            )
        assert len(_ids(response)) == size
        return len(ctx.captured_queries)

    assert queries(25) == queries(100)
    # 12, plus one for the page's owners and review statuses, one for "is anything
    # snoozed" (the snooze condition is only added when something is) and one for the row
    # notes of the surfaces above (retry policies ask once whether an enabled policy covers
    # the page's workspaces).
    assert queries(100) <= 15


def test_saved_views_are_shared_with_the_team(
    client_for, alice, bob, charlie, ws_a, team_a
):
    make_items(make_process(ws_a), 1)
    response = client_for(alice).post(
        reverse("workitems-savedview-create"),
        {
            "name": "Timeouts",
            "team": team_a.pk,
            "query": "exception_code=TIMEOUT&after=abc&evil=1",
        },
    )
    assert response.status_code == 302
    view = SavedView.objects.get(name="Timeouts")
    assert view.query == "exception_code=TIMEOUT"
    assert "Timeouts" in client_for(bob).get(URL).content.decode()
    assert "Timeouts" not in client_for(charlie).get(URL).content.decode()
    # Bob (not the author, not admin) cannot delete it; another team gets a 404.
    delete = reverse("workitems-savedview-delete", args=[view.pk])
    assert client_for(bob).post(delete).status_code == 403
    assert client_for(charlie).post(delete).status_code == 404
    assert client_for(alice).post(delete).status_code == 302
    assert not SavedView.objects.exists()


def test_saving_a_view_for_another_team_is_refused(client_for, alice, team_b):
    response = client_for(alice).post(
        reverse("workitems-savedview-create"),
        {"name": "x", "team": team_b.pk, "query": ""},
    )
    assert response.status_code == 302
    assert not SavedView.objects.exists()


def test_csv_export_streams_the_current_filter(client_for, alice, ws_a):
    proc = make_process(ws_a, "Invoices")
    make_items(proc, 5, state="done")
    make_items(
        proc,
        3,
        state="failed",
        start=10,
        exception_code="E1",
        exception_message="=HYPERLINK(bad)",
    )
    response = client_for(alice).get(reverse("workitems-item-export") + "?state=failed")
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:4] == ["workspace", "process", "work_item_id", "state"]
    assert len(rows) == 4
    assert {r[3] for r in rows[1:]} == {"failed"}
    assert all(r[10].startswith("'=") for r in rows[1:])  # no formula injection


def test_csv_export_writes_times_as_python_isoformat_on_every_database(
    client_for, alice, ws_a
):
    """PostgreSQL formats the export's times itself (workitems.export.IsoText): the cells
    must be what datetime.isoformat() writes, with and without microseconds, and empty for
    no time at all."""
    items = make_items(make_process(ws_a), 3, state="failed")
    moments = [
        datetime(2026, 3, 29, 1, 30, 5, tzinfo=UTC),
        datetime(2026, 10, 25, 23, 59, 59, 123456, tzinfo=UTC),
        datetime(999, 1, 2, 3, 4, 5, 7, tzinfo=UTC),
    ]
    for item, moment in zip(items, moments, strict=True):
        WorkItem.objects.filter(pk=item.pk).update(created_at=moment)
    WorkItem.objects.filter(pk=items[0].pk).update(state_updated_at=None)
    rows = list(
        csv.reader(
            io.StringIO(
                b"".join(
                    client_for(alice)
                    .get(reverse("workitems-item-export") + "?sort=created")
                    .streaming_content
                ).decode()
            )
        )
    )
    by_id = {r[2]: r[4:6] for r in rows[1:]}
    stored = {
        i.external_id: i for i in WorkItem.objects.filter(pk__in=[i.pk for i in items])
    }
    for external_id, (created, updated) in by_id.items():
        item = stored[external_id]
        assert created == item.created_at.isoformat()
        assert updated == (
            item.state_updated_at.isoformat() if item.state_updated_at else ""
        )
    assert by_id[items[0].external_id] == ["2026-03-29T01:30:05+00:00", ""]
    assert by_id[items[2].external_id][0] == "0999-01-02T03:04:05.000007+00:00"
    assert [r[2] for r in rows[1:]] == [
        i.external_id for i in (items[2], items[0], items[1])
    ]


def test_csv_export_streams_without_a_query_per_row(client_for, alice, ws_a):
    make_items(make_process(ws_a), 4500)
    response = client_for(alice).get(reverse("workitems-item-export"))
    chunks = iter(response.streaming_content)
    assert next(chunks).startswith(
        b"workspace,process,work_item_id"
    )  # header before any row
    with CaptureQueriesContext(connection) as ctx:
        lines = 1 + sum(chunk.count(b"\n") for chunk in chunks)
    assert lines == 4501
    # One cursor read in chunks of 2,000 (a server-side cursor on PostgreSQL), not a query per row.
    assert len(ctx.captured_queries) <= 2


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="trigram indexes are PostgreSQL's"
)
def test_text_filters_match_the_trigram_index_expressions(alice, ws_a):
    """The indexed expressions must be exactly what Django writes for icontains, or the
    planner cannot use them (the benchmark measures that it does on 1M rows)."""
    make_items(make_process(ws_a), 5, exception_message="Timed out")
    scope = selectors.Scope.for_user(alice)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE indexname LIKE 'op_item_%_trgm'"
        )
        indexes = dict(cursor.fetchall())
    for name, filters in (
        ("op_item_message_trgm", {"message": "timed"}),
        ("op_item_payload_trgm", {"payload": "INV-1"}),
    ):
        plan = selectors.filtered_items(scope, filters).explain()
        expression = re.search(r"(upper\(.*?\)) ~~", plan)
        assert expression is not None, plan
        assert f"({expression.group(1)} gin_trgm_ops)" in indexes[name], (
            plan,
            indexes[name],
        )


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the plan checked is PostgreSQL's"
)
@pytest.mark.django_db(
    transaction=True
)  # VACUUM, for an index-only scan, needs autocommit
def test_code_and_group_counts_are_answered_from_the_code_index(alice, ws_a):
    """The state counts of a code or a triage group read `op_item_code_counts` alone (an
    index-only scan): its partial predicate must follow from the filter's conditions."""
    proc = make_process(ws_a)
    make_items(proc, 2000, state="done")
    make_items(
        proc,
        5,
        state="failed",
        start=3000,
        exception_type="application",
        exception_code="TIMEOUT",
        exception_message="Timed out",
    )
    scope = selectors.Scope.for_user(alice)
    signature = WorkItem.objects.values_list("message_signature", flat=True).first()
    group = {
        "state": ["failed"],
        "exception_type": "application",
        "exception_code": "TIMEOUT",
        "signature": signature,
    }
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE mirror_workitem")
        for filters in ({"exception_code": "TIMEOUT"}, group):
            counts = (
                selectors.filtered_items(scope, filters, with_state=False)
                .values_list("state")
                .annotate(n=Count("id"))
                .order_by()
            )
            assert "Index Only Scan using op_item_code_counts" in counts.explain()
        page = selectors.ordered(selectors.filtered_items(scope, group), "-created")
        assert "op_item_code_counts" in page[:51].explain()


def _export(client: Any, query: str) -> Any:
    return client.get(reverse("workitems-item-export") + query)


def _csv(response: Any) -> list[list[str]]:
    assert response.status_code == 200, response.content
    text = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(text)))


def test_payload_fields_become_csv_columns_with_any_filter(client_for, alice, ws_a):
    proc = make_process(ws_a, "Invoices")
    items = make_items(
        proc, 3, state="failed", exception_code="E1", exception_message="boom"
    )
    make_items(proc, 2, state="done")
    payloads = [
        {"order": {"id": 17, "lines": [{"sku": "A-1"}]}, "flag": True, "name": "=x"},
        {"order": {"id": "X-9"}, "customer": {"city": "Oulu", "tags": ["a", "b"]}},
        {"other": 1},
    ]
    for item, payload in zip(items, payloads, strict=True):
        WorkItem.objects.filter(pk=item.pk).update(payload=payload)
    fields = "payload_field=order.id,customer&payload_field=order.lines.0.sku"
    rows = _csv(
        _export(
            client_for(alice),
            f"?state=failed&message=boom&sort=created&{fields}&payload_field=flag,name",
        )
    )
    assert rows[0][-5:] == [
        "payload.order.id",
        "payload.customer",
        "payload.order.lines.0.sku",
        "payload.flag",
        "payload.name",
    ]
    by_id = {r[2]: r[-5:] for r in rows[1:]}
    assert by_id[items[0].external_id] == ["17", "", "A-1", "true", "'=x"]
    # A nested object is written as its JSON text; a missing key as an empty cell.
    assert by_id[items[1].external_id] == [
        "X-9",
        '{"city": "Oulu", "tags": ["a", "b"]}',
        "",
        "",
        "",
    ]
    assert by_id[items[2].external_id] == ["", "", "", "", ""]
    assert len(rows) == 4  # the filter still applies: failed items with "boom" only
    # Another filter, the same columns.
    rows = _csv(_export(client_for(alice), f"?state=done&{fields}"))
    assert len(rows) == 3 and all(r[-3:] == ["", "", ""] for r in rows[1:])


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("payload_field=order..id", "is not a payload field path"),
        ("payload_field=order id", "is not a payload field path"),
        ("payload_field=a'b", "is not a payload field path"),
        (
            "payload_field=" + ",".join(f"f{n}" for n in range(11)),
            "At most 10 payload fields",
        ),
    ],
)
def test_bad_payload_field_paths_get_a_clear_message(
    client_for, alice, ws_a, query, message
):
    make_items(make_process(ws_a), 1, state="failed")
    response = _export(client_for(alice), "?" + query)
    assert response.status_code == 400
    assert message in response.content.decode()


def test_the_explorer_offers_payload_columns_for_the_current_filter(
    client_for, alice, ws_a
):
    make_items(make_process(ws_a), 1, state="failed")
    html = client_for(alice).get(reverse("workitems-item-list") + "?state=failed")
    page = html.content.decode()
    assert 'id="export-form"' in page
    assert 'name="payload_field"' in page
    form = page[page.index('id="export-form"') :]
    form = form[: form.index("</form>")]
    assert '<input type="hidden" name="state" value="failed">' in form


def _grouped_counts(scope: Any, filters: dict[str, Any]) -> dict[str, int]:
    rows = (
        selectors.filtered_items(scope, filters, with_state=False)
        .values_list("state")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {**dict.fromkeys(selectors.WORK_ITEM_STATES, 0), **dict(rows)}


def test_a_search_that_fits_one_page_counts_its_rows_instead_of_scanning_again(
    alice, ws_a
):
    proc = make_process(ws_a)
    make_items(proc, 3, state="done", exception_message="paid INV-1")
    make_items(proc, 2, state="failed", start=5, exception_message="late INV-1")
    make_items(proc, 40, state="failed", start=10, exception_message="other")
    scope = selectors.Scope.for_user(alice)
    narrow = {"message": "INV-1"}
    page = selectors.keyset_page(
        selectors.filtered_items(scope, narrow), sort="-created", page_size=25
    )
    assert page.holds_every_match
    with CaptureQueriesContext(connection) as ctx:
        counts = selectors.state_counts(scope, narrow, page)
    assert (
        counts
        == _grouped_counts(scope, narrow)
        == {
            **dict.fromkeys(selectors.WORK_ITEM_STATES, 0),
            "done": 3,
            "failed": 2,
        }
    )
    assert not ctx.captured_queries


@pytest.mark.parametrize(
    "filters, paging",
    [
        ({"message": "o"}, {}),  # more than a page: counted in the database
        ({"message": "o"}, {"after": "past-the-end"}),  # a cursor: not the whole answer
        ({"message": "o", "state": ["done"]}, {}),  # counts ignore the state filter
    ],
)
def test_counts_of_a_partial_page_come_from_the_database(alice, ws_a, filters, paging):
    proc = make_process(ws_a)
    make_items(proc, 3, state="done", exception_message="ok")
    make_items(proc, 30, state="failed", start=5, exception_message="oops")
    scope = selectors.Scope.for_user(alice)
    if paging:
        last = WorkItem.objects.order_by("created_at", "pk").first()
        assert last is not None
        paging = {"after": selectors.encode_cursor(last.created_at, last.pk)}
    page = selectors.keyset_page(
        selectors.filtered_items(scope, filters),
        sort="-created",
        page_size=25,
        **paging,
    )
    assert not page.holds_every_match or filters.get("state")
    assert selectors.state_counts(scope, filters, page) == _grouped_counts(
        scope, filters
    )
    assert selectors.state_counts(scope, filters, page)["done"] == 3
