"""The workspace overview, Sync now and webhook registration pages: roles, HTMX polling."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from dashboard.mirror.models import SyncRun, WebhookRegistration
from dashboard.mirror.services.syncruns import sync_request, sync_run_execute
from tests.dashboard.factories import make_workspace_row
from tests.dashboard.mirror.helpers import add_runs
from tests.dashboard.support.sync import full_sync
from tests.dashboard.support.workspaces import workspace_on_emulator

pytestmark = [pytest.mark.django_db, pytest.mark.emulator]


def _overview(ws: Any) -> str:
    return reverse("mirror-workspace-overview", kwargs={"workspace_id": ws.pk})


def test_the_overview_shows_counts_sync_status_and_data_as_of(
    ws, emu, carol, client_for
):
    add_runs(emu, processes=2, runs=1, items=7)
    full_sync(ws)
    sync_run_execute(
        sync_run_id=sync_request(workspace=ws, trigger=SyncRun.Trigger.MANUAL).pk
    )
    response = client_for(carol).get(_overview(ws))
    assert response.status_code == 200
    html = response.content.decode()
    for process in emu.store.live_processes():
        assert process.name in html
    assert 'id="data-as-of"' in html and "never synced" not in html
    assert "Succeeded" in html
    assert 'id="sync-now"' not in html  # viewers cannot sync
    assert 'hx-trigger="every 2s"' not in html  # idle: no polling
    assert "<script" not in html.split("</head>")[1]  # no inline script (CSP)


def test_the_status_polls_while_a_sync_runs_and_stops_when_idle(ws, carol, client_for):
    client = client_for(carol)
    htmx = {"HX-Request": "true", "HX-Target": "sync-status"}
    sync_run = SyncRun.objects.create(
        workspace=ws, trigger=SyncRun.Trigger.MANUAL, status="running", phase="runs"
    )
    page = client.get(_overview(ws))
    assert 'hx-trigger="every 2s"' in page.content.decode()
    poll = client.get(_overview(ws), headers=htmx)
    assert poll.status_code == 200
    assert "<html" not in poll.content.decode() and "runs" in poll.content.decode()
    SyncRun.objects.filter(pk=sync_run.pk).update(status="succeeded")
    done = client.get(_overview(ws), headers=htmx)
    assert done.status_code == 286
    assert 'hx-trigger="every 2s"' not in done.content.decode()


def test_other_teams_get_404_and_anonymous_users_the_login_page(
    ws, charlie, client_for
):
    assert client_for(charlie).get(_overview(ws)).status_code == 404
    response = client_for(None).get(_overview(ws))
    assert response.status_code == 302 and "/login/" in response["Location"]
    sync_url = reverse("mirror-sync-now", kwargs={"workspace_id": ws.pk})
    assert client_for(charlie).post(sync_url).status_code == 404


def test_sync_now_needs_an_operator_and_a_post(ws, bob, carol, client_for):
    url = reverse("mirror-sync-now", kwargs={"workspace_id": ws.pk})
    assert client_for(carol).post(url).status_code == 403
    assert client_for(bob).get(url).status_code == 405
    response = client_for(bob).post(url)
    assert response.status_code == 302
    sync_run = SyncRun.objects.get()
    assert (sync_run.trigger, sync_run.status, sync_run.requested_by) == (
        "manual",
        "queued",
        bob,
    )
    client_for(bob).post(url)
    assert SyncRun.objects.count() == 1


def test_sync_now_refuses_a_disabled_workspace(team_a, emu, bob, client_for):
    ws = make_workspace_row(team_a, enabled=False)
    response = client_for(bob).post(
        reverse("mirror-sync-now", kwargs={"workspace_id": ws.pk}), follow=True
    )
    assert "disabled" in response.content.decode()
    assert not SyncRun.objects.exists()


def test_webhook_registration_is_for_admins(ws, emu, alice, bob, client_for):
    emu.store.add_process("Ticket Triage")
    url = reverse("mirror-webhooks-register", kwargs={"workspace_id": ws.pk})
    assert client_for(bob).post(url).status_code == 403
    response = client_for(alice).post(url, follow=True)
    assert response.status_code == 200
    assert "Registered 1 webhook" in response.content.decode()
    registration = WebhookRegistration.objects.get()
    assert registration.endpoint.endswith(f"/hooks/{ws.uid}/")
    assert "Registered for 1 process" in response.content.decode()
    remove = reverse("mirror-webhooks-unregister", kwargs={"workspace_id": ws.pk})
    assert client_for(bob).post(remove).status_code == 403
    client_for(alice).post(remove)
    assert not WebhookRegistration.objects.exists()
    assert emu.store.webhooks == {}


def test_webhook_registration_reports_a_key_without_the_permission(
    team_a, emu, alice, client_for
):
    key = emu.create_key(["read_processes", "read_runs", "read_work_items"])
    ws = workspace_on_emulator(emu, team_a, api_key=key)
    emu.store.add_process("Payroll")
    url = reverse("mirror-webhooks-register", kwargs={"workspace_id": ws.pk})
    response = client_for(alice).post(url, follow=True)
    assert "may not manage webhooks" in response.content.decode()
    assert not WebhookRegistration.objects.exists()


def test_operators_see_the_sync_now_button(ws, bob, client_for):
    html = client_for(bob).get(_overview(ws)).content.decode()
    assert 'id="sync-now"' in html
    assert "Register webhooks" not in html  # admins only
