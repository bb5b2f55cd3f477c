"""The processes page (statistics and the SVG chart) and the runs list with its filters."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from dashboard.mirror.models import ProcessRun, WorkItem
from tests.dashboard.support.sync import full_sync

pytestmark = [pytest.mark.emulator, pytest.mark.django_db]


@pytest.fixture
def history(emu, ws):
    """Two processes with finished runs; one always fails, one never does."""
    good = emu.store.add_process("Good", item_seconds=1.0, failure_rate=0.0)
    bad = emu.store.add_process("Bad", item_seconds=1.0, failure_rate=1.0)
    for _ in range(2):
        emu.store.create_run(good.id, payloads=[{"k": k} for k in range(4)])
    emu.store.create_run(bad.id, payloads=[{"k": k} for k in range(3)])
    emu.advance(3600)
    emu.store.create_run(good.id, payloads=[{}], started_by="user")  # still new
    full_sync(ws)
    return good, bad


def _row(html: str, process_id: str) -> str:
    start = html.index(f'data-process="{process_id}"')
    return html[start : html.index("</tr>", start)]


def test_the_workspace_page_shows_runs_failure_rate_and_items(
    client_for, carol, ws, history
):
    good, bad = history
    html = (
        client_for(carol)
        .get(reverse("processes-workspace", args=[ws.pk]))
        .content.decode()
    )
    good_row, bad_row = _row(html, good.id), _row(html, bad.id)
    assert '<td class="num">3</td>' in good_row  # runs in 24 h and 7 d
    assert "0%" in good_row and "100%" in bad_row
    assert '<td class="num">8</td>' in good_row  # done items
    assert '<td class="num">3</td>' in bad_row  # failed items
    assert "Start…" not in html  # carol is a viewer


def test_the_chart_is_an_accessible_svg_of_done_and_failed_items(
    client_for, carol, ws, history
):
    html = (
        client_for(carol)
        .get(reverse("processes-workspace", args=[ws.pk]) + "?window=24h")
        .content.decode()
    )
    assert '<svg viewBox="0 0 720 220"' in html and 'role="img"' in html
    assert '<title id="chart-title">Work items done and failed per hour</title>' in html
    assert "8 work items were done and 3 failed" in html
    assert html.count('class="wr-failed"') == 1
    assert "<script" not in html.split("</head>", 1)[1]


def test_the_page_across_workspaces_lists_only_my_teams(
    client_for, carol, charlie, ws, history
):
    html = client_for(carol).get(reverse("processes-overview")).content.decode()
    assert "Runs WS" in html and ">Good<" in html
    assert (
        ">Good<"
        not in client_for(charlie).get(reverse("processes-overview")).content.decode()
    )


def test_operators_get_start_buttons(client_for, bob, ws, history):
    good, _ = history
    html = (
        client_for(bob)
        .get(reverse("processes-workspace", args=[ws.pk]))
        .content.decode()
    )
    assert reverse("processes-start", args=[ws.pk, good.id]) in html


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", 4),
        ("state=unresolved", 1),
        ("state=completed", 2),
        ("started_by=user", 1),
        ("started_by=api&state=new", 0),
    ],
)
def test_the_run_list_filters(client_for, carol, ws, history, query, expected):
    response = client_for(carol).get(reverse("processes-run-list") + "?" + query)
    assert response.context["page"].paginator.count == expected


def test_the_run_list_filters_by_process_workspace_and_time(
    client_for, carol, ws, history
):
    good, _ = history
    process_pk = ProcessRun.objects.filter(process__external_id=good.id)[0].process_id
    client = client_for(carol)
    url = reverse("processes-run-list")
    assert (
        client.get(f"{url}?workspace={ws.pk}&process={process_pk}")
        .context["page"]
        .paginator.count
        == 3
    )
    old = ProcessRun.objects.filter(process_id=process_pk).order_by("created_at")[0]
    ProcessRun.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - timedelta(days=10)
    )
    assert (
        client.get(f"{url}?process={process_pk}&range=7d")
        .context["page"]
        .paginator.count
        == 2
    )
    day = (timezone.now() - timedelta(days=10)).date().isoformat()
    assert (
        client.get(f"{url}?since={day}&until={day}").context["page"].paginator.count
        == 1
    )


def test_the_run_list_partial_and_bad_filters(client_for, carol, ws, history):
    client = client_for(carol)
    partial = client.get(
        reverse("processes-run-list") + "?state=completed",
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="run-results",
    )
    assert partial.content.decode().lstrip().startswith('<section id="run-results"')
    bad = client.get(
        reverse("processes-run-list") + "?state=completed&since=notadate&workspace=x"
    )
    assert bad.status_code == 200
    assert bad.context["page"].paginator.count == 2  # the valid filter still applies
    assert "Some filters were ignored" in bad.content.decode()


def test_the_run_list_shows_item_counts_with_few_queries(
    client_for, carol, ws, history, django_assert_max_num_queries
):
    client = client_for(carol)
    with django_assert_max_num_queries(12):
        html = client.get(reverse("processes-run-list")).content.decode()
    assert WorkItem.objects.filter(state="failed").count() == 3
    assert "3 failed" in html
