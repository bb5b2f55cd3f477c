"""Runs through the API: a step run's console (paged), events and artifacts (streamed) read
live from the emulator, starting a process with payloads, uploading an item file, and
`workroom runs tail`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from dashboard.accounts.models import Role
from dashboard.audit.models import AuditEvent
from dashboard.mirror.models import ProcessRun, StepRun, WorkItem
from dashboard.mirror.services.runnumbers import number_new_runs
from tests.dashboard.support.sync import full_sync

pytestmark = [pytest.mark.emulator]


@pytest.fixture
def finished(emu: Any, ws: Any) -> Any:
    """A finished run with failures; returns its (emulator) first step run."""
    proc = emu.store.add_process("Claims", item_seconds=1.0, failure_rate=0.5)
    run = emu.store.create_run(proc.id, payloads=[{"k": k} for k in range(150)])
    emu.advance(36000)
    full_sync(ws)
    return emu.store.step_runs[emu.store.runs[run.idx].step_runs[0]]


def test_console_pages_follow_next_to_the_emulators_messages(
    finished, team_a, alice, make_token, api_client
):
    client = api_client(make_token(team_a, alice, Role.VIEWER))
    step = StepRun.objects.get(external_id=finished.id)
    url: str | None = f"/api/steps/{step.pk}/console"
    seen: list[str] = []
    while url:
        page = client.get(url).json()
        assert page["error"] == ""
        seen += [m["message"] for m in page["messages"]]
        url = page["next"]
    assert seen == [m for _, m in finished.console]


def test_events_and_artifacts_stream(finished, team_a, alice, make_token, api_client):
    client = api_client(make_token(team_a, alice, Role.VIEWER))
    step = StepRun.objects.get(external_id=finished.id)
    events = client.get(f"/api/steps/{step.pk}/events").json()
    assert len(events["rows"]) == len(finished.events)
    artifacts = client.get(f"/api/steps/{step.pk}/artifacts").json()["rows"]
    assert {a["name"] for a in artifacts} == {a.name for a in finished.artifacts}
    assert all("url" not in a for a in artifacts)  # presigned URLs stay inside
    for artifact in finished.artifacts:
        answer = client.get(f"/api/steps/{step.pk}/artifacts/{artifact.id}")
        assert answer.status_code == 200 and answer.streaming
        assert b"".join(answer.streaming_content) == artifact.data
    missing = client.get(f"/api/steps/{step.pk}/artifacts/nope")
    assert missing.status_code == 404


def test_start_a_process_with_payloads(ws, emu, team_a, alice, make_token, api_client):
    emu.store.add_process("Intake", item_seconds=1.0, failure_rate=0.0)
    full_sync(ws)
    client = api_client(make_token(team_a, alice, name="starter"))
    process = client.get("/api/processes").json()[0]
    answer = client.post(
        f"/api/processes/{process['id']}/runs",
        {"payloads": [{"n": 1}, {"n": 2}]},
        content_type="application/json",
    )
    assert answer.status_code == 201, answer.content
    started = answer.json()
    assert started["started"] and started["run"]["process_id"] == process["id"]
    assert ProcessRun.objects.filter(pk=started["run"]["id"]).exists()
    event = AuditEvent.objects.get(action="processes.run_start")
    assert event.actor_label.startswith("token starter")
    viewer = api_client(make_token(team_a, alice, Role.VIEWER, name="v"))
    refused = viewer.post(
        f"/api/processes/{process['id']}/runs", {}, content_type="application/json"
    )
    assert refused.status_code == 403


def test_upload_a_file_to_an_item(finished, ws, team_a, alice, make_token, api_client):
    client = api_client(make_token(team_a, alice))
    item = WorkItem.objects.filter(workspace=ws, state="failed").earliest("pk")
    answer = client.post(
        f"/api/items/{item.pk}/files",
        {"file": SimpleUploadedFile("fix.csv", b"a,b\n1,2\n")},
    )
    assert answer.status_code == 200, answer.content
    assert "fix.csv" in [f["name"] for f in answer.json()["item"]["files"]]


def test_workroom_runs_tail_prints_the_console(
    transactional_db, live_server, emu, finished, team_a, alice, make_token, tmp_path
):
    run = ProcessRun.objects.get(external_id=emu.store.runs[finished.run_idx].id)
    step = StepRun.objects.get(external_id=finished.id)
    done = subprocess.run(
        [str(Path(sys.executable).parent / "workroom"), "runs", "tail", str(run.pk),
         "--no-follow"],
        env={
            "WORKROOM_URL": live_server.url,
            "WORKROOM_TOKEN": make_token(team_a, alice, Role.VIEWER),
            "XDG_CONFIG_HOME": str(tmp_path),
        },
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    printed = [ln for ln in lines if ln.startswith(f"[{step.step_name}] ")]
    assert printed[: len(finished.console)] == [
        f"[{step.step_name}] {m}" for _, m in finished.console
    ]
    assert lines[-1] == f"run {run.external_id}: {run.state}"


def test_runs_pages_follow_next_links(ws, emu, team_a, alice, make_token, api_client):
    proc = emu.store.add_process("Batches", item_seconds=1.0, failure_rate=0.0)
    for k in range(5):
        emu.store.create_run(proc.id, payloads=[{"k": k}])
    emu.advance(600)
    full_sync(ws)
    number_new_runs(ws.pk)
    client = api_client(make_token(team_a, alice, Role.VIEWER))
    seen: list[int] = []
    numbers: list[int] = []
    url: str | None = "/api/runs?limit=2"
    while url:
        page = client.get(url).json()
        seen += [r["id"] for r in page["runs"]]
        numbers += [r["number"] for r in page["runs"]]
        url = page["next"]
    assert numbers == [5, 4, 3, 2, 1]  # newest first; numbered oldest first
    expected = list(
        ProcessRun.objects.filter(workspace=ws)
        .order_by("-created_at", "-id")
        .values_list("pk", flat=True)
    )
    assert seen == expected and len(seen) == 5
