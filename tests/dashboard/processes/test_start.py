"""Starting a process from Workroom: every start variant of API.md §3.3, checked in the emulator."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.urls import reverse

from dashboard.audit.models import AuditEvent
from dashboard.mirror.models import ProcessRun
from dashboard.workitems.models import ProcessSchema
from robocorp_api.emulator import EmulatorServer
from tests.dashboard.support.sync import full_sync
from tests.dashboard.support.workspaces import workspace_on_emulator

pytestmark = [pytest.mark.emulator, pytest.mark.django_db]


def _url(ws: Any, process: Any) -> str:
    return reverse("processes-start", args=[ws.pk, process.id])


def _confirm(client: Any, url: str, review: Any) -> Any:
    """Post the hidden fields of the confirmation form that the review step rendered."""
    ctx = review.context
    start = ctx["start"]
    data: dict[str, Any] = {"stage": "confirm", "variant": start.variant}
    if start.payloads is not None:
        data["payloads_json"] = start.payloads_json
    if start.work_item_ids is not None:
        data["work_item_ids"] = start.work_item_ids
    return client.post(url, data)


def _newest_run(emu: EmulatorServer) -> Any:
    return emu.store.runs[-1]


def _payloads(emu: EmulatorServer, run: Any) -> list[Any]:
    return [emu.store.item_payload(row) for row in run.items]


def test_it_starts_without_input(client_for, bob, ws, process, emu):
    client = client_for(bob)
    url = _url(ws, process)
    review = client.post(url, {"stage": "review", "variant": "none"})
    assert review.status_code == 200
    assert b"one empty work item" in review.content
    assert emu.store.runs == []  # nothing starts before the confirmation

    response = _confirm(client, url, review)

    run = _newest_run(emu)
    assert response.status_code == 302
    assert response["Location"] == reverse("processes-run-detail", args=[ws.pk, run.id])
    assert _payloads(emu, run) == [None]
    assert ProcessRun.objects.filter(workspace=ws, external_id=run.id).exists()
    event = AuditEvent.objects.get(action="processes.run_start")
    assert event.actor == bob
    assert event.data["outcome"] == "started"
    assert event.data["run_id"] == run.id
    assert event.data["variant"] == "none"


def test_it_starts_with_one_json_payload(client_for, bob, ws, process, emu):
    client = client_for(bob)
    url = _url(ws, process)
    review = client.post(
        url,
        {
            "stage": "review",
            "variant": "payload",
            "payload": '{"invoice": 7, "lines": [1, 2]}',
        },
    )
    assert review.status_code == 200
    _confirm(client, url, review)
    assert _payloads(emu, _newest_run(emu)) == [{"invoice": 7, "lines": [1, 2]}]


def test_it_starts_one_run_with_a_json_array_of_payloads(
    client_for, bob, ws, process, emu
):
    client = client_for(bob)
    url = _url(ws, process)
    payloads = [{"n": 1}, {"n": 2}, {"n": 3}]
    review = client.post(
        url,
        {"stage": "review", "variant": "payloads", "payloads": json.dumps(payloads)},
    )
    assert review.status_code == 200
    assert b"<strong>3</strong> work items will be created" in review.content
    _confirm(client, url, review)
    assert len(emu.store.runs) == 1
    assert sorted(_payloads(emu, _newest_run(emu)), key=lambda p: p["n"]) == payloads


def test_it_previews_a_csv_then_starts_one_item_per_row(
    client_for, bob, ws, process, emu
):
    client = client_for(bob)
    url = _url(ws, process)
    rows = "".join(f"INV-{n},{n * 10},Ä{n}\n" for n in range(1, 13))
    upload = io.BytesIO(("invoice,amount,customer\n" + rows).encode())
    upload.name = "invoices.csv"
    review = client.post(url, {"stage": "review", "variant": "csv", "csv_file": upload})
    assert review.status_code == 200
    html = review.content.decode()
    assert (
        "<strong>12</strong> work items will be created; the first 10 are shown" in html
    )
    assert "<th>invoice</th><th>amount</th><th>customer</th>" in html
    table = html[
        html.index('id="csv-preview"') : html.index(
            "</table>", html.index('id="csv-preview"')
        )
    ]
    assert "<td>INV-10</td>" in table and "INV-11" not in table
    assert emu.store.runs == []

    _confirm(client, url, review)

    payloads = _payloads(emu, _newest_run(emu))
    assert len(payloads) == 12
    assert {"invoice": "INV-3", "amount": "30", "customer": "Ä3"} in payloads


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1,\n "b": }', "Line 2, column 7"),
        ("[1, 2", "Line 1, column 6"),
    ],
)
def test_it_reports_json_errors_with_line_and_column(
    client_for, bob, ws, process, emu, text, expected
):
    response = client_for(bob).post(
        _url(ws, process), {"stage": "review", "variant": "payload", "payload": text}
    )
    assert response.status_code == 400
    assert expected in response.content.decode()
    assert emu.store.runs == []


def test_it_refuses_a_non_array_for_many_payloads(client_for, bob, ws, process, emu):
    response = client_for(bob).post(
        _url(ws, process),
        {"stage": "review", "variant": "payloads", "payloads": '{"a": 1}'},
    )
    assert response.status_code == 400
    assert "must be a JSON array" in response.content.decode()


def test_it_validates_payloads_against_the_process_schema(
    client_for, bob, ws, process, emu
):
    ProcessSchema.objects.create(
        workspace=ws,
        process_external_id=process.id,
        schema={
            "type": "object",
            "required": ["invoice"],
            "properties": {"invoice": {"type": "integer"}},
        },
    )
    client = client_for(bob)
    url = _url(ws, process)
    bad = client.post(
        url,
        {
            "stage": "review",
            "variant": "payloads",
            "payloads": '[{"invoice": 1}, {"invoice": "x"}, {}]',
        },
    )
    assert bad.status_code == 400
    text = bad.content.decode()
    assert "Payload 2: $.invoice:" in text
    assert "Payload 3: $:" in text and "required" in text

    # The confirm step re-checks: a hand-crafted confirmation cannot bypass the schema.
    forged = client.post(
        url,
        {
            "stage": "confirm",
            "variant": "payloads",
            "payloads_json": '[{"invoice": "x"}]',
        },
    )
    assert forged.status_code == 400
    assert emu.store.runs == []

    good = client.post(
        url, {"stage": "review", "variant": "payloads", "payloads": '[{"invoice": 1}]'}
    )
    assert good.status_code == 200
    _confirm(client, url, good)
    assert _payloads(emu, _newest_run(emu)) == [{"invoice": 1}]


def test_it_starts_with_selected_existing_work_items(client_for, bob, ws, process, emu):
    store_process = emu.store.get_process(process.id)
    rows = [emu.store.create_input_item(store_process, {"queued": k}) for k in range(3)]
    ids = [emu.store.items.item_id(r) for r in rows]
    full_sync(ws)
    client = client_for(bob)
    url = _url(ws, process)
    page = client.get(url)
    for item_id in ids:
        assert item_id in page.content.decode()

    review = client.post(
        url, {"stage": "review", "variant": "work_items", "work_item_ids": ids[:2]}
    )
    assert review.status_code == 200
    _confirm(client, url, review)

    run = _newest_run(emu)
    assert sorted(emu.store.items.item_id(r) for r in run.items) == sorted(ids[:2])


def test_it_refuses_work_items_that_are_not_waiting(client_for, bob, ws, process, emu):
    response = client_for(bob).post(
        _url(ws, process),
        {"stage": "review", "variant": "work_items", "work_item_ids": ["nope"]},
    )
    assert response.status_code == 400
    assert "no longer waiting" in response.content.decode()


def test_it_explains_when_the_input_queue_is_empty(client_for, bob, ws, process, emu):
    client = client_for(bob)
    url = _url(ws, process)
    response = client.post(url, {"stage": "confirm", "variant": "inputs"}, follow=True)
    assert emu.store.runs == []
    assert "nothing was waiting in the input queue" in response.content.decode()
    event = AuditEvent.objects.get(action="processes.run_start")
    assert event.data["outcome"] == "not_started"


def test_it_starts_with_the_queued_inputs(client_for, bob, ws, process, emu):
    store_process = emu.store.get_process(process.id)
    rows = [emu.store.create_input_item(store_process, {"q": k}) for k in range(2)]
    client = client_for(bob)
    response = client.post(_url(ws, process), {"stage": "confirm", "variant": "inputs"})
    run = _newest_run(emu)
    assert response.status_code == 302
    assert sorted(run.items) == sorted(rows)


def test_it_names_the_missing_permission_when_control_room_refuses(
    client_for, alice, bob, team_a, emu
):
    limited = workspace_on_emulator(
        emu,
        team_a,
        name="Limited",
        api_key=emu.create_key(["read_processes", "read_runs", "read_work_items"]),
        added_by=alice,
    )
    proc = emu.store.add_process("Payroll")
    full_sync(limited)
    client = client_for(bob)
    url = reverse("processes-start", args=[limited.pk, proc.id])
    page = client.get(url)
    assert (
        "The workspace&#x27;s API key lacks Processes.trigger_processes"
        in page.content.decode()
    )

    response = client.post(url, {"stage": "confirm", "variant": "none"})

    assert response.status_code == 400
    assert (
        "lacks the permission Processes.trigger_processes" in response.content.decode()
    )
    assert emu.store.runs == []
    assert (
        AuditEvent.objects.get(action="processes.run_start").data["outcome"] == "failed"
    )


def test_it_reports_a_server_error_without_a_500(client_for, bob, ws, process, emu):
    emu.faults.add(kind="error", status=503, path=r"/process-runs$", method="POST")
    response = client_for(bob).post(
        _url(ws, process), {"stage": "confirm", "variant": "none"}
    )
    assert response.status_code == 400
    assert "Control Room had an internal error (503)" in response.content.decode()


def test_it_says_when_the_outcome_is_unknown(client_for, bob, ws, process, emu):
    # The run is created, then the connection drops before the answer: Workroom must not guess.
    emu.faults.add(kind="drop", after_apply=True, path=r"/process-runs$", method="POST")
    response = client_for(bob).post(
        _url(ws, process), {"stage": "confirm", "variant": "none"}
    )
    assert response.status_code == 400
    assert "cannot tell whether it took effect" in response.content.decode()
    assert len(emu.store.runs) == 1  # created once, never re-sent


def test_a_viewer_cannot_start(client_for, carol, ws, process, emu):
    client = client_for(carol)
    assert client.get(_url(ws, process)).status_code == 403
    assert (
        client.post(
            _url(ws, process), {"stage": "confirm", "variant": "none"}
        ).status_code
        == 403
    )
    assert emu.store.runs == []


def test_another_team_gets_404(client_for, charlie, team_b, ws, process, emu):
    client = client_for(charlie)
    assert client.get(_url(ws, process)).status_code == 404
    assert (
        client.post(
            _url(ws, process), {"stage": "confirm", "variant": "none"}
        ).status_code
        == 404
    )
    assert emu.store.runs == []


def test_it_rejects_put(client_for, bob, ws, process):
    assert client_for(bob).put(_url(ws, process)).status_code == 405


def test_a_payload_filled_in_under_no_input_is_not_silently_dropped(
    client_for, bob, ws, process, emu
):
    """The walk found a pasted JSON ignored because "No input" was still chosen."""
    response = client_for(bob).post(
        _url(ws, process),
        {"stage": "review", "variant": "none", "payload": '{"order": 1}'},
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "You filled in “One JSON payload” but chose “No input" in html
    assert emu.store.runs == []
    # The form comes back with the payload kept, and its field open under its choice.
    assert "{&quot;order&quot;: 1}" in html
