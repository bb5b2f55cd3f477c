"""The insights pages: numbers from the rollups, scope (team A never sees team B), CSVs,
bad parameters answered with a message, a constant number of queries, the value form."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from dashboard.audit.models import AuditEvent
from dashboard.insights.models import ProcessValue
from dashboard.insights.rollups import update_workspace
from dashboard.mirror.models import FailureOccurrence, Process, WorkItem
from tests.dashboard.factories import make_workspace_row
from tests.dashboard.workitems.conftest import make_items, make_process

pytestmark = pytest.mark.django_db


def seed(
    workspace: Any, *, done: int, failed: int, code: str = "HTTP_ERROR"
) -> Process:
    """Items done and failed an hour ago, with their failure occurrences, then an update."""
    process = make_process(workspace)
    when = timezone.now() - timedelta(hours=1)
    made = make_items(process, done, state="done")
    WorkItem.objects.filter(pk__in=[i.pk for i in made]).update(state_updated_at=when)
    failing = make_items(
        process,
        failed,
        state="failed",
        start=done,
        exception_type="application",
        exception_code=code,
    )
    WorkItem.objects.filter(pk__in=[i.pk for i in failing]).update(
        state_updated_at=when - timedelta(days=3)
    )
    FailureOccurrence.objects.bulk_create(
        FailureOccurrence(
            workspace=workspace,
            work_item=item,
            number=1,
            failed_at=when,
            exception_type="application",
            exception_code=code,
        )
        for item in failing
    )
    update_workspace(workspace.pk)
    return process


@pytest.fixture
def two_teams(team_a: Any, team_b: Any) -> dict[str, Any]:
    ws_a = make_workspace_row(team_a, name="Alpha WS")
    ws_b = make_workspace_row(team_b, name="Beta WS")
    return {
        "a": ws_a,
        "b": ws_b,
        "pa": seed(ws_a, done=6, failed=2),
        "pb": seed(ws_b, done=3, failed=5, code="SECRET_B_CODE"),
    }


def rows_of(response: Any) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode())))


def test_the_overview_shows_my_teams_numbers_only(client_for, alice, two_teams):
    html = client_for(alice).get(reverse("insights-overview")).content.decode()
    assert "Alpha WS" in html and "Beta WS" not in html
    assert "SECRET_B_CODE" not in html and "HTTP_ERROR" in html
    assert 'id="throughput-chart"' in html and 'role="img"' in html
    assert 'id="throughput-table"' in html and "csv=throughput" in html


def test_another_teams_workspace_and_process_are_404(client_for, alice, two_teams):
    client = client_for(alice)
    b, pb = two_teams["b"], two_teams["pb"]
    assert client.get(reverse("insights-workspace", args=[b.pk])).status_code == 404
    url = reverse("insights-process", args=[b.pk, pb.external_id])
    assert client.get(url).status_code == 404
    assert client.get(url + "?csv=codes").status_code == 404


@pytest.mark.parametrize("period", ["24h", "7d", "30d"])
def test_the_csv_has_the_pages_numbers(client_for, alice, two_teams, period):
    client = client_for(alice)
    url = reverse("insights-workspace", args=[two_teams["a"].pk])
    throughput = rows_of(client.get(url, {"period": period, "csv": "throughput"}))
    assert throughput[0][:3] == ["bucket_start", "done", "failed"]
    assert len(throughput) - 1 == {"24h": 24, "7d": 7, "30d": 30}[period]
    assert sum(int(r[1]) for r in throughput[1:]) == 6
    assert sum(int(r[2]) for r in throughput[1:]) == 2
    codes = rows_of(client.get(url, {"period": period, "csv": "codes"}))
    assert codes[1][:3] == ["application", "HTTP_ERROR", "2"]
    processes = rows_of(client.get(url, {"period": period, "csv": "processes"}))
    assert processes[1][3:6] == ["6", "2", "25.0"]


def test_the_overview_csv_leaves_other_teams_out(client_for, alice, two_teams):
    response = client_for(alice).get(reverse("insights-overview"), {"csv": "codes"})
    assert "SECRET_B_CODE" not in response.content.decode()
    assert response["Content-Type"].startswith("text/csv")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"period": "90d"}, "is not a period Workroom knows"),
        ({"period": "x" * 500}, "is not a period Workroom knows"),
        ({"csv": "passwords"}, "There is no table"),
    ],
)
def test_bad_parameters_get_a_message_not_a_500(
    client_for, alice, two_teams, params, message
):
    response = client_for(alice).get(reverse("insights-overview"), params)
    assert response.status_code == 400
    assert message in response.content.decode()


def test_a_page_costs_the_same_queries_with_more_processes(
    client_for, alice, team_a, django_assert_max_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    ws = make_workspace_row(team_a, name="Big WS")
    client = client_for(alice)
    first = seed(ws, done=2, failed=1)
    urls = [
        reverse("insights-overview"),
        reverse("insights-workspace", args=[ws.pk]),
        reverse("insights-process", args=[ws.pk, first.external_id]),
    ]

    def cost() -> list[int]:
        counts = []
        for url in urls:
            for period in ("24h", "30d"):
                with CaptureQueriesContext(connection) as captured:
                    assert client.get(url, {"period": period}).status_code == 200
                counts.append(len(captured))
        return counts

    cost()  # warm the session
    small = cost()
    for _ in range(8):
        p = seed(ws, done=5, failed=3)
        ProcessValue.objects.create(
            workspace=ws,
            process_external_id=p.external_id,
            value_per_item=2,
            sla_hours=1,
        )
    ProcessValue.objects.create(
        workspace=ws,
        process_external_id=first.external_id,
        value_per_item=2,
        sla_hours=1,
    )
    assert cost() == [n + 1 for n in small]  # + the count of items over their SLA
    with django_assert_max_num_queries(16):
        client.get(urls[2])


def test_an_admin_sets_the_value_and_sla_and_it_is_audited(
    client_for, alice, two_teams
):
    ws, p = two_teams["a"], two_teams["pa"]
    client = client_for(alice)
    url = reverse("insights-process-value", args=[ws.pk, p.external_id])
    response = client.post(
        url, {"value_per_item": "12.50", "currency": "EUR", "sla_hours": "24"}
    )
    assert response.status_code == 302
    row = ProcessValue.objects.get(workspace=ws, process_external_id=p.external_id)
    assert row.value_per_item == Decimal("12.50") and row.sla_hours == 24
    assert AuditEvent.objects.filter(action="insights.value", team=ws.team).exists()
    page = client.get(reverse("insights-process", args=[ws.pk, p.external_id]))
    html = page.content.decode()
    assert "75.00 EUR" in html  # 6 done x 12.50
    assert "25.00 EUR" in html  # 2 failed now x 12.50
    assert 'id="value-chart"' in html
    # Both failed items failed 3 days ago: over a 24 h SLA, linked to the explorer.
    processes = rows_of(client.get(page.request["PATH_INFO"], {"csv": "processes"}))
    assert processes[1][10] == "2"
    assert "state=failed" in html and "updated_to=" in html


def test_a_bad_value_is_refused_with_the_field_named(client_for, alice, two_teams):
    ws, p = two_teams["a"], two_teams["pa"]
    url = reverse("insights-process-value", args=[ws.pk, p.external_id])
    response = client_for(alice).post(url, {"value_per_item": "-3", "sla_hours": "abc"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "greater than or equal to 0" in html and "Enter a whole number" in html
    assert not ProcessValue.objects.exists()


def test_operators_and_viewers_see_no_value_form_and_cannot_post(
    client_for, bob, carol, two_teams
):
    ws, p = two_teams["a"], two_teams["pa"]
    for user in (bob, carol):
        client = client_for(user)
        page = client.get(reverse("insights-process", args=[ws.pk, p.external_id]))
        assert (
            page.status_code == 200 and 'id="value-form"' not in page.content.decode()
        )
        url = reverse("insights-process-value", args=[ws.pk, p.external_id])
        assert client.post(url, {"value_per_item": "1"}).status_code == 403


def test_day_buckets_start_at_the_readers_midnight(client_for, alice, two_teams):
    from dashboard.accounts.models import UserPreferences

    UserPreferences.objects.update_or_create(
        user=alice, defaults={"time_zone": "America/New_York"}
    )
    url = reverse("insights-workspace", args=[two_teams["a"].pk])
    rows = rows_of(client_for(alice).get(url, {"period": "7d", "csv": "throughput"}))
    starts = [r[0] for r in rows[1:]]
    assert all("T00:00:00-0" in s for s in starts), starts  # -05:00 or -04:00
    assert sum(int(r[1]) for r in rows[1:]) == 6


def test_a_process_of_another_workspace_is_404(client_for, alice, two_teams, team_a):
    other = make_workspace_row(team_a, name="Second WS")
    url = reverse("insights-process", args=[other.pk, two_teams["pa"].external_id])
    assert client_for(alice).get(url).status_code == 404
