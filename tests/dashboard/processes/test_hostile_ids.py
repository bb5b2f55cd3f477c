"""Issue 11 (a), (c), (i): ids Control Room chooses never break a page, a link or the path a
request goes to; huge page numbers are clamped; download names lose invisible characters."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from dashboard.processes import services
from dashboard.workspaces.services import build_client
from robocorp_api.emulator import EmulatorServer
from robocorp_api.errors import NotFound
from tests.dashboard.support.sync import full_sync

pytestmark = [pytest.mark.emulator, pytest.mark.django_db]

HOSTILE_IDS = ["run/with/slashes", "..", ".", "tab\there", "ünï-cødé ✓", "~x", "a%2Fb"]


def rename_run(emu: EmulatorServer, run: Any, new_id: str) -> None:
    with emu.store.lock:
        del emu.store.run_by_id[run.id]
        run.id = new_id
        emu.store.run_by_id[new_id] = run.idx


def rename_step_run(emu: EmulatorServer, step: Any, new_id: str) -> None:
    with emu.store.lock:
        del emu.store.step_run_by_id[step.id]
        step.id = new_id
        emu.store.step_run_by_id[new_id] = step.idx


@pytest.fixture
def finished_run(emu: EmulatorServer, ws: Any) -> Any:
    proc = emu.store.add_process("Hostile", item_seconds=1.0, failure_rate=0.0)
    run = emu.store.create_run(proc.id, payloads=[{"k": 1}])
    emu.advance(600)
    return run


@pytest.mark.parametrize("hostile", HOSTILE_IDS)
def test_runs_with_any_id_are_listed_and_their_links_open(
    client_for, carol, ws, emu, finished_run, hostile
):
    rename_run(emu, finished_run, hostile)
    step = emu.store.step_runs[finished_run.step_runs[0]]
    rename_step_run(emu, step, hostile + "-step")
    full_sync(ws)
    client = client_for(carol)
    listing = client.get(reverse("processes-run-list"))
    assert listing.status_code == 200
    run_url = reverse("processes-run-detail", args=[ws.pk, hostile])
    assert run_url in listing.content.decode()
    detail = client.get(run_url)
    assert detail.status_code == 200
    step_url = reverse("processes-steprun-detail", args=[ws.pk, hostile, step.id])
    assert step_url in detail.content.decode()
    console = client.get(step_url)
    assert console.status_code == 200
    assert "Step run created" in console.content.decode()


def test_a_dot_dot_run_id_is_sent_as_one_segment_not_the_parent(ws, emu, finished_run):
    # Before: requests/urllib3 turned /process-runs/.. into /workspaces/<id>/ (another resource).
    with build_client(ws) as client, pytest.raises(NotFound):
        client.process_runs.get("..")
    rename_run(emu, finished_run, "..")
    with build_client(ws) as client:
        assert client.process_runs.get("..").id == ".."


def test_an_encoded_id_that_was_never_made_is_404(client_for, carol, ws):
    for segment in ("~", "~!!", "~AA", "~" + "A" * 5000):
        url = f"/workspaces/{ws.pk}/runs/{segment}/"
        assert client_for(carol).get(url).status_code == 404


@pytest.mark.parametrize("page", ["99999999999999999999999", "-5", "1e400", "٣", "0"])
def test_console_page_numbers_are_clamped(
    client_for, carol, ws, emu, finished_run, page
):
    full_sync(ws)
    step = emu.store.step_runs[finished_run.step_runs[0]]
    url = reverse("processes-steprun-detail", args=[ws.pk, finished_run.id, step.id])
    for order in ("oldest", "newest"):
        response = client_for(carol).get(url, {"page": page, "order": order})
        assert response.status_code == 200
    listing = client_for(carol).get(reverse("processes-run-list"), {"page": page})
    assert listing.status_code == 200


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("invoice\u202egpj.exe", 'attachment; filename="invoicegpj.exe"'),
        ("a\u200bb\u2066.txt", 'attachment; filename="ab.txt"'),
    ],
)
def test_download_names_drop_invisible_characters(name, expected):
    assert services.content_disposition(name) == expected


def test_an_overlong_run_id_does_not_break_the_sync(
    client_for, carol, ws, emu, finished_run
):
    rename_run(emu, finished_run, "x" * 300)
    full_sync(ws)
    listing = client_for(carol).get(reverse("processes-run-list"))
    assert listing.status_code == 200
