"""Stopping a run: the two API flags (API.md §3.1 stop, §4.1) reach Control Room as chosen."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from dashboard.audit.models import AuditEvent
from tests.dashboard.support.sync import full_sync
from tests.dashboard.support.workspaces import workspace_on_emulator

pytestmark = [pytest.mark.emulator, pytest.mark.django_db]


def _url(ws: Any, run_id: str) -> str:
    return reverse("processes-run-stop", args=[ws.pk, run_id])


@pytest.fixture
def running(emu, ws, process) -> Any:
    run = emu.store.create_run(process.id, payloads=[{"k": k} for k in range(20)])
    emu.advance(3)
    full_sync(ws)
    return run


@pytest.mark.parametrize(
    ("mode", "remaining", "terminate", "done"),
    [
        ("graceful", "failed", False, False),
        ("terminate", "done", True, True),
        ("terminate", "failed", True, False),
    ],
)
def test_the_chosen_flags_reach_control_room(
    client_for, bob, ws, emu, running, mode, remaining, terminate, done
):
    response = client_for(bob).post(
        _url(ws, running.id),
        {
            "mode": mode,
            "remaining": remaining,
            "reason": "wrong input file",
            "confirm": "on",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == reverse(
        "processes-run-detail", args=[ws.pk, running.id]
    )
    stored = emu.store.runs[running.idx]
    assert stored.state == "stopping"
    assert (stored.stop_terminate, stored.stop_remaining_done) == (terminate, done)
    assert stored.stop_reason == "wrong input file"
    event = AuditEvent.objects.get(action="processes.run_stop")
    assert event.actor == bob
    assert event.data["terminate_ongoing_activity_runs"] is terminate
    assert event.data["set_remaining_work_items_as_done"] is done
    assert event.data["outcome"] == "accepted"


def test_remaining_items_marked_done_end_done(client_for, bob, ws, emu, running):
    client_for(bob).post(
        _url(ws, running.id),
        {"mode": "terminate", "remaining": "done", "reason": "x", "confirm": "on"},
    )
    emu.advance(60)
    counts = emu.store.run_counts(emu.store.runs[running.idx])
    assert counts["pending"] == 0 and counts["done"] >= 18


def test_it_needs_confirmation_and_a_reason(client_for, bob, ws, emu, running):
    response = client_for(bob).post(
        _url(ws, running.id), {"mode": "graceful", "remaining": "failed", "reason": ""}
    )
    assert response.status_code == 400
    assert emu.store.runs[running.idx].state == "in_progress"


def test_the_page_explains_both_flags(client_for, bob, ws, running):
    html = client_for(bob).get(_url(ws, running.id)).content.decode()
    assert (
        "terminate_ongoing_activity_runs" in html
        and "set_remaining_work_items_as_done" in html
    )
    assert "finishes the work item it is processing" in html
    assert "closed without being processed" in html


def test_an_ended_run_is_not_accepted(client_for, bob, ws, emu, running):
    emu.advance(3600)
    response = client_for(bob).post(
        _url(ws, running.id),
        {"mode": "graceful", "remaining": "failed", "reason": "late", "confirm": "on"},
        follow=True,
    )
    assert "did not accept the stop" in response.content.decode()
    assert (
        AuditEvent.objects.get(action="processes.run_stop").data["outcome"]
        == "not_accepted"
    )


def test_it_names_the_missing_permission(client_for, alice, bob, team_a, emu):
    limited = workspace_on_emulator(
        emu,
        team_a,
        name="Limited",
        api_key=emu.create_key(["read_processes", "read_runs", "read_work_items"]),
        added_by=alice,
    )
    proc = emu.store.add_process("Payroll")
    run = emu.store.create_run(proc.id, payloads=[{}])
    full_sync(limited)
    page = (
        client_for(bob)
        .get(reverse("processes-run-detail", args=[limited.pk, run.id]))
        .content.decode()
    )
    assert "Processes.trigger_processes" in page and "disabled" in page
    response = client_for(bob).post(
        _url(limited, run.id),
        {"mode": "graceful", "remaining": "failed", "reason": "r", "confirm": "on"},
    )
    assert response.status_code == 400
    assert (
        "lacks the permission Processes.trigger_processes" in response.content.decode()
    )
    assert emu.store.runs[run.idx].state == "new"


def test_a_viewer_gets_403(client_for, carol, ws, emu, running):
    client = client_for(carol)
    assert client.get(_url(ws, running.id)).status_code == 403
    assert (
        client.post(
            _url(ws, running.id),
            {"mode": "graceful", "remaining": "failed", "reason": "r", "confirm": "on"},
        ).status_code
        == 403
    )
    assert emu.store.runs[running.idx].state == "in_progress"


def test_another_team_gets_404(client_for, charlie, team_b, ws, emu, running):
    assert (
        client_for(charlie)
        .post(
            _url(ws, running.id),
            {"mode": "graceful", "remaining": "failed", "reason": "r", "confirm": "on"},
        )
        .status_code
        == 404
    )
    assert emu.store.runs[running.idx].state == "in_progress"


def test_it_rejects_put(client_for, bob, ws, running):
    assert client_for(bob).put(_url(ws, running.id)).status_code == 405
