"""The run page: facts from the mirror, refreshed from Control Room while the run is active,
and the `#status` partial that htmx polls until the run ends (then 286 stops the polling)."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from dashboard.mirror.models import ProcessRun
from tests.dashboard.factories import make_workspace_row
from tests.dashboard.support.sync import full_sync

pytestmark = [pytest.mark.emulator, pytest.mark.django_db]

HTMX_STATUS = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "status"}


def _url(ws: Any, run_id: str) -> str:
    return reverse("processes-run-detail", args=[ws.pk, run_id])


def test_it_reads_a_new_run_it_has_not_mirrored_yet(
    client_for, carol, ws, process, emu
):
    run = emu.store.create_run(process.id, payloads=[{"k": 1}, {"k": 2}])
    response = client_for(carol).get(_url(ws, run.id))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="run-state">new<' in html
    assert 'hx-trigger="every 2s"' in html
    assert 'data-state="pending">pending: 2<' in html
    assert ProcessRun.objects.filter(workspace=ws, external_id=run.id).exists()


def test_status_partial_follows_the_run_and_stops_polling_when_it_ends(
    client_for, carol, ws, emu
):
    proc = emu.store.add_process(
        "Half fails", steps=["Read", "Post"], item_seconds=1.0, failure_rate=0.5
    )
    run = emu.store.create_run(proc.id, payloads=[{"k": k} for k in range(6)])
    client = client_for(carol)

    emu.advance(3)  # started, first step run running
    running = client.get(_url(ws, run.id), **HTMX_STATUS)
    assert running.status_code == 200
    assert running.content.decode().lstrip().startswith('<section id="status"')
    assert 'id="run-state">in progress<' in running.content.decode()
    assert 'hx-trigger="every 2s"' in running.content.decode()

    emu.advance(3600)  # the robots finish
    final = client.get(_url(ws, run.id), **HTMX_STATUS)
    assert final.status_code == 286
    html = final.content.decode()
    state = emu.store.runs[run.idx].state
    assert state in ("completed", "unresolved")
    assert f'id="run-state">{state}<' in html
    assert "hx-trigger" not in html
    counts = emu.store.run_counts(emu.store.runs[run.idx])
    for name, n in counts.items():
        label = name.replace("_", " ")
        assert f'data-state="{name}">{label}: {n}<' in html
    for idx in emu.store.runs[run.idx].step_runs:
        assert emu.store.step_runs[idx].id in html

    again = client.get(_url(ws, run.id), **HTMX_STATUS)
    assert again.status_code == 286


def test_a_terminal_run_is_served_from_the_mirror(client_for, carol, ws, process, emu):
    run = emu.store.create_run(process.id, payloads=[{"k": 1}])
    emu.advance(3600)
    full_sync(ws)
    before = emu.stats.snapshot()
    response = client_for(carol).get(_url(ws, run.id))
    assert response.status_code == 200
    assert emu.stats.snapshot() == before  # no request to Control Room


def test_it_shows_the_last_copy_when_control_room_is_unreachable(
    client_for, carol, ws, process, emu
):
    run = emu.store.create_run(process.id, payloads=[{"k": 1}])
    full_sync(ws)
    emu.faults.add(kind="error", status=503, path=r"/process-runs/")
    response = client_for(carol).get(_url(ws, run.id))
    assert response.status_code == 200
    assert (
        "Showing Workroom's last copy: Control Room had an internal error (503)"
        in response.content.decode()
    )


def test_an_unknown_run_is_404(client_for, carol, ws, process):
    assert client_for(carol).get(_url(ws, "no-such-run")).status_code == 404


def test_an_unreachable_control_room_and_no_copy_is_a_clear_503(
    client_for, carol, team_a, closed_port
):
    ws = make_workspace_row(team_a, base_url=f"http://127.0.0.1:{closed_port}/api/v1")
    response = client_for(carol).get(_url(ws, "abc"))
    assert response.status_code == 503
    assert "could not be reached" in response.content.decode()


def test_another_team_gets_404(client_for, charlie, team_b, ws, process, emu):
    run = emu.store.create_run(process.id, payloads=[{"k": 1}])
    assert client_for(charlie).get(_url(ws, run.id)).status_code == 404


def test_viewers_see_no_stop_button_operators_do(
    client_for, carol, bob, ws, process, emu
):
    run = emu.store.create_run(process.id, payloads=[{"k": 1}])
    assert "Stop run" not in client_for(carol).get(_url(ws, run.id)).content.decode()
    assert (
        reverse("processes-run-stop", args=[ws.pk, run.id])
        in client_for(bob).get(_url(ws, run.id)).content.decode()
    )
