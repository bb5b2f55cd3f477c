"""The home page says what needs attention across my workspaces, each number linked."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from dashboard.home.attention import attention_for
from dashboard.mirror.models import ProcessRun, WorkItem, WorkspaceSyncState
from dashboard.workitems.selectors import Scope
from robocorp_api.emulator import ALL_PERMISSIONS
from tests.dashboard.factories import make_workspace_row
from tests.dashboard.support.sync import full_sync
from tests.dashboard.support.workspaces import workspace_on_emulator
from tests.dashboard.workitems.conftest import failing_run, make_items, make_process

pytestmark = [pytest.mark.django_db, pytest.mark.emulator]


def _home(client) -> str:
    answer = client.get(reverse("home"))
    assert answer.status_code == 200
    return answer.content.decode()


def _tile(html: str, tile: str) -> str:
    found = re.search(rf'id="tile-{tile}">\s*<span class="tile-number">([^<]+)<', html)
    assert found is not None, tile
    return found.group(1)


def test_failures_from_control_room_show_as_numbers_groups_and_fresh_sync(
    client_for, alice, team_a, emu
):
    ws = workspace_on_emulator(emu, team_a, name="Production", added_by=alice)
    failing_run(emu, items=3, mix=(0.0, 1.0, 0.0), name="Invoices")
    full_sync(ws)
    failed = WorkItem.objects.filter(workspace=ws, state="failed").count()
    assert failed == 3

    html = _home(client_for(alice))
    assert _tile(html, "failed") == "3"
    assert _tile(html, "failed-24h") == "3"
    assert 'href="/items/?state=failed" id="tile-failed"' in html
    # The group links to exactly its items in the explorer, and is marked new.
    groups = re.findall(
        r'<a href="(/items/\?[^"]+)" class="group-link"><strong>(\d+)</strong>', html
    )
    assert groups and sum(int(n) for _, n in groups) == 3
    for link, n in groups:
        listed = client_for(alice).get(link.replace("&amp;", "&"))
        assert listed.content.decode().count('class="item-row') == int(n)
    assert '<span class="badge badge-new">new</span>' in html
    assert 'class="health-fresh"' in html and "Production" in html
    assert "Your teams" in html


def test_stuck_runs_long_pending_items_and_late_or_failing_syncs(
    client_for, alice, team_a, emu, emulator_factory
):
    ws = workspace_on_emulator(emu, team_a, name="Production", added_by=alice)
    proc = emu.store.add_process("Slow", item_seconds=3600.0)
    emu.store.create_run(proc.id, payloads=[{"k": 1}])
    emu.advance(5)
    full_sync(ws)
    long_ago = timezone.now() - timedelta(hours=3)
    ProcessRun.objects.filter(workspace=ws).update(
        started_at=long_ago, state="in_progress"
    )
    process = make_process(ws, "Queue")
    make_items(process, 2, state="pending")
    WorkItem.objects.filter(process=process).update(state_updated_at=long_ago)

    other = emulator_factory(workspace_id="rejecting")
    key = other.create_key(ALL_PERMISSIONS)
    rejected = workspace_on_emulator(other, team_a, name="Old key", api_key=key)
    rejected.needs_attention = True
    rejected.last_error = "Sync: Control Room answered 401: the API key was rejected."
    rejected.save()
    late = make_workspace_row(team_a, name="Quiet")
    WorkspaceSyncState.objects.create(
        workspace=late, last_success_at=timezone.now() - timedelta(hours=2)
    )

    html = _home(client_for(alice))
    assert _tile(html, "stuck") == "1"
    assert "Slow" in html.split('id="stuck-runs"')[1]
    assert _tile(html, "pending") == "2"
    assert _tile(html, "sync") == "2"
    health = html.split('id="sync-health"')[1]
    assert 'class="health-failing"' in health and "API key was rejected" in health
    assert (
        'class="health-late"' in health
        and "No successful sync for longer than" in health
    )
    assert "Nothing needs attention" not in html


def test_only_my_teams_count_and_an_empty_mirror_is_all_clear(
    client_for, alice, charlie, team_a, team_b
):
    mine = make_workspace_row(team_a, name="Mine")
    WorkspaceSyncState.objects.create(workspace=mine, last_success_at=timezone.now())
    theirs = make_workspace_row(team_b, name="Theirs")
    make_items(make_process(theirs), 5, state="failed", exception_code="X")

    html = _home(client_for(alice))
    assert _tile(html, "failed") == "0"
    assert 'id="all-clear"' in html
    assert "Theirs" not in html
    assert _tile(_home(client_for(charlie)), "failed") == "5"


def test_htmx_refresh_answers_the_section_alone(client_for, alice, team_a):
    make_workspace_row(team_a, name="Mine")
    answer = client_for(alice).get(reverse("home"), HTTP_HX_REQUEST="true")
    html = answer.content.decode()
    assert html.lstrip().startswith('<section id="attention"')
    assert "Your teams" not in html and "<html" not in html


def test_the_query_count_does_not_grow_with_workspaces(client_for, alice, team_a):
    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            attention_for(Scope.for_user(alice))
        return len(ctx.captured_queries)

    for n in range(2):
        ws = make_workspace_row(team_a, name=f"WS {n}")
        make_items(make_process(ws), 3, state="failed", exception_code=f"E{n}")
    few = queries()
    for n in range(2, 6):
        ws = make_workspace_row(team_a, name=f"WS {n}")
        make_items(make_process(ws), 3, state="failed", exception_code=f"E{n}")
    assert queries() == few


def test_my_assigned_failed_items_are_counted_and_linked(
    client_for, alice, bob, team_a
):
    from dashboard.audit.services import Actor
    from dashboard.workitems import collab

    ws = make_workspace_row(team_a, name="Mine")
    items = make_items(make_process(ws), 3, state="failed", exception_code="E")
    collab.assign(items[:2], bob, Actor.of(alice))
    html = _home(client_for(bob))
    assert _tile(html, "mine") == "2"
    assert 'href="/items/?owner=me&amp;state=failed" id="tile-mine"' in html
    assert _tile(_home(client_for(alice)), "mine") == "0"
