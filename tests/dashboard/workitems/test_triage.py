"""Failure triage: grouping by (workspace, process, type, code, normalised message)."""

from __future__ import annotations

import re
import zoneinfo
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlencode

import pytest
from django.urls import reverse
from django.utils import timezone

from dashboard.core.timefmt import absolute, relative
from dashboard.mirror.models import Process
from dashboard.workitems import rowhtml, selectors
from dashboard.workspaces.models import Workspace
from tests.dashboard.workitems.conftest import make_items, make_process

pytestmark = pytest.mark.django_db
URL = reverse("workitems-triage")


def _seed(ws_a):
    proc = make_process(ws_a, "Invoices")
    other = make_process(ws_a, "Orders")
    for k, msg in enumerate(
        [
            "Order 48213 not found in SAP",
            "Order 99 not found in SAP",
            "Order 7 not found in SAP",
        ]
    ):
        make_items(
            proc,
            1,
            state="failed",
            start=k,
            exception_type="business",
            exception_code="NOT_FOUND",
            exception_message=msg,
        )
    make_items(
        proc,
        2,
        state="failed",
        start=10,
        exception_type="application",
        exception_code="TIMEOUT",
        exception_message="Timed out after 30000 ms for anna@example.com",
    )
    make_items(
        other,
        1,
        state="failed",
        start=20,
        exception_type="business",
        exception_code="NOT_FOUND",
        exception_message="Order 5 not found in SAP",
    )
    make_items(proc, 4, state="done", start=30)
    make_items(
        proc,
        1,
        state="failed",
        start=40,
        exception_type="",
        exception_code="",
        exception_message="",
    )
    return proc, other


def test_it_groups_failures_by_normalised_message(alice, ws_a):
    _proc, _other = _seed(ws_a)
    triage = selectors.failure_groups(selectors.Scope.for_user(alice))
    got = {
        (
            g.process.name if g.process else "",
            g.exception_type,
            g.exception_code,
            g.signature,
        ): g.count
        for g in triage.groups
    }
    assert got == {
        ("Invoices", "business", "NOT_FOUND", "Order <n> not found in SAP"): 3,
        ("Invoices", "application", "TIMEOUT", "Timed out after <n> ms for <email>"): 2,
        ("Orders", "business", "NOT_FOUND", "Order <n> not found in SAP"): 1,
        ("Invoices", "", "", ""): 1,
    }
    assert triage.total_failed == 7
    assert triage.groups[0].count == 3  # largest first
    first = triage.groups[0]
    assert first.first_seen is not None and first.last_seen is not None
    assert first.first_seen < first.last_seen
    assert (
        first.sample_message.startswith("Order ")
        and "not found in SAP" in first.sample_message
    )
    assert not first.transient and first.advice == "fix data / mark done"
    timeout = next(g for g in triage.groups if g.exception_code == "TIMEOUT")
    assert timeout.transient and timeout.advice == "usually transient — retry"
    assert triage.by_kind == {"business": 4, "application": 2, "unspecified": 1}


def test_one_click_filters_the_explorer_to_the_group(client_for, alice, ws_a):
    _seed(ws_a)
    html = client_for(alice).get(URL).content.decode()
    assert "usually transient — retry" in html and "fix data / mark done" in html
    links = re.findall(r'class="group-link" href="([^"]+)"', html)
    assert links
    timeout_link = next(link for link in links if "TIMEOUT" in link).replace(
        "&amp;", "&"
    )
    listing = client_for(alice).get(timeout_link).content.decode()
    assert len(re.findall(r'id="item-row-', listing)) == 2
    assert "Timed out after 30000 ms" in listing


def test_triage_is_scoped_and_filterable(client_for, alice, charlie, ws_a, ws_b):
    proc, _ = _seed(ws_a)
    make_items(
        make_process(ws_b),
        5,
        state="failed",
        exception_type="business",
        exception_code="B_ONLY",
        exception_message="x",
    )
    assert "B_ONLY" not in client_for(alice).get(URL).content.decode()
    assert "B_ONLY" in client_for(charlie).get(URL).content.decode()
    html = (
        client_for(alice)
        .get(URL + "?exception_type=application", HTTP_HX_REQUEST="true")
        .content.decode()
    )
    assert html.lstrip().startswith('<section id="groups"')
    assert "TIMEOUT" in html and "NOT_FOUND" not in html
    html = client_for(alice).get(URL + f"?process={proc.pk}").content.decode()
    assert "Orders" not in re.sub(r"<select.*?</select>", "", html, flags=re.S)


def test_triage_reports_a_bad_filter_instead_of_dropping_it(client_for, alice, ws_a):
    _seed(ws_a)
    html = client_for(alice).get(URL + "?process=abc").content.decode()
    assert 'id="filter-error"' in html and "The filter is not valid (Process:" in html
    assert "TIMEOUT" not in html  # no group of the unfiltered set is shown


def test_triage_query_count_is_constant(
    client_for, alice, ws_a, django_assert_max_num_queries
):
    proc = make_process(ws_a)
    for k in range(30):
        make_items(
            proc,
            1,
            state="failed",
            start=k,
            exception_type="application",
            exception_code=f"E{k}",
            exception_message=f"m{k}",
        )
    client = client_for(alice)
    client.get(URL)
    # 12, plus five that do not grow with the groups: "is anything snoozed", the groups'
    # owners and review statuses, their comment counts, the team's assignable members, and
    # the workers of the "no worker online" warning.
    with django_assert_max_num_queries(17):
        assert client.get(URL).status_code == 200


@pytest.mark.parametrize(
    "params",
    [
        {"workspace": 1, "state": "failed", "signature": "Order # not found in SAP"},
        {"exception_code": "E~1.x-y_z", "signature": "100% & = + / ? ü 🎉 \"'<>"},
        {"signature": ""},
    ],
)
def test_the_alert_link_quotes_a_group_query_as_quote_does(params):
    query = urlencode(params)
    assert rowhtml._quote_query(query) == quote(query, safe="/")


def test_a_query_not_written_by_urlencode_is_quoted_by_quote():
    for text in ("a b/c", "x=ü", "a,b;c"):
        assert rowhtml._quote_query(text) == quote(text, safe="/")


@pytest.mark.parametrize(
    "ago", [timedelta(seconds=5), timedelta(hours=3), timedelta(days=30)]
)
def test_a_page_clock_writes_times_as_the_reader_zone_would(ago):
    """Triage rows share one Clock (now, reader's zone) instead of looking both up per time."""
    zone = zoneinfo.ZoneInfo("Europe/Helsinki")
    moment = datetime(2026, 11, 30, 12, 0, 0, 5, tzinfo=UTC)
    clock = rowhtml.Clock(moment + ago, zone)
    with timezone.override(zone):
        html = rowhtml._ago(moment, clock)
        assert f'title="{absolute(moment)}"' in html
        assert f">{relative(moment, moment + ago)}</time>" in html
        assert "EET" in html


@pytest.mark.parametrize("with_process", [True, False])
def test_a_group_explorer_query_is_what_urlencode_writes(with_process):
    group = selectors.FailureGroup(
        workspace=Workspace(pk=7),
        process=Process(pk=12, external_id="p") if with_process else None,
        exception_type="application",
        exception_code="E~1 & =x",
        signature="Order # not found in SAP: 100% ü/🎉 \"'<>+",
        count=1,
        first_seen=None,
        last_seen=None,
    )
    params: dict[str, object] = {"workspace": 7}
    if with_process:
        params["process"] = 12
    params.update(
        state="failed",
        exception_type=group.exception_type,
        exception_code=group.exception_code,
        signature=group.signature,
    )
    assert group.explorer_query == urlencode(params)
