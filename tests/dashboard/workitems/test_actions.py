"""Single-item actions against the emulator over real HTTP: retry, mark done, delete, edit
payload, upload; Control Room's 409 / 403 / 5xx answers; roles and disabled workspaces."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from dashboard.audit.models import AuditEvent
from dashboard.mirror.models import ProcessRun, WorkItem
from dashboard.workitems.models import ProcessSchema
from dashboard.workspaces.models import Workspace
from dashboard.workspaces.services import build_client
from tests.dashboard.support.sync import full_sync
from tests.dashboard.support.workspaces import workspace_on_emulator
from tests.dashboard.workitems.conftest import failing_run

pytestmark = [pytest.mark.django_db, pytest.mark.emulator]
HX = {"HTTP_HX_REQUEST": "true"}


def _failed(workspace: Workspace) -> WorkItem:
    return WorkItem.objects.filter(workspace=workspace, state="failed").order_by("id")[
        0
    ]


def _action(item: WorkItem, action: str) -> str:
    return reverse("workitems-item-action", args=[item.pk, action])


def _remote(workspace: Workspace, item: WorkItem) -> Any:
    with build_client(workspace) as client:
        return client.work_items.get(item.external_id)


def test_retry_from_the_detail_updates_control_room_mirror_and_audit(
    client_for, bob, emu_ws
):
    item = _failed(emu_ws)
    response = client_for(bob).post(_action(item, "retry"), **HX)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="item-detail"')
    assert "Retry sent" in html
    assert _remote(emu_ws, item).state == "pending"
    item.refresh_from_db()
    assert item.state == "pending"
    assert item.state_changes.filter(old_state="failed", new_state="pending").exists()
    # The run is flagged so the next sync reads the item's final outcome without a webhook.
    assert ProcessRun.objects.get(
        workspace=emu_ws, external_id=item.process_run_external_id
    ).needs_refresh
    event = AuditEvent.objects.get(action="work_item.retry")
    assert event.actor_label == "bob" and event.object_id == str(item.pk)
    assert event.data["outcome"] == "ok"
    # The item's history shows both the observed change and the audit event.
    detail = (
        client_for(bob)
        .get(reverse("workitems-item-detail", args=[item.pk]))
        .content.decode()
    )
    assert "failed → pending" in detail and "Retried work item" in detail


def test_retry_from_a_row_returns_the_row_and_an_out_of_band_flash(
    client_for, bob, emu_ws
):
    item = _failed(emu_ws)
    html = (
        client_for(bob)
        .post(_action(item, "retry"), {"from": "row"}, **HX)
        .content.decode()
    )
    assert html.lstrip().startswith(f'<tr id="item-row-{item.pk}"')
    assert 'hx-swap-oob="true"' in html and "Retry sent" in html
    assert "badge-pending" in html


def test_plain_post_without_javascript_redirects_with_a_message(
    client_for, bob, emu_ws
):
    item = _failed(emu_ws)
    response = client_for(bob).post(_action(item, "mark_as_done"), follow=True)
    assert response.redirect_chain[-1][0] == reverse(
        "workitems-item-detail", args=[item.pk]
    )
    assert "Marked done." in response.content.decode()
    assert _remote(emu_ws, item).state == "done"


def test_delete_asks_for_confirmation_then_marks_the_row_gone(client_for, bob, emu_ws):
    item = _failed(emu_ws)
    confirm = client_for(bob).get(
        reverse("workitems-item-delete-confirm", args=[item.pk])
    )
    assert confirm.status_code == 200 and "Yes, delete it" in confirm.content.decode()
    assert WorkItem.objects.get(pk=item.pk).gone_at is None  # a GET changes nothing
    html = client_for(bob).post(_action(item, "delete"), **HX).content.decode()
    assert "Deleted in Control Room." in html
    item.refresh_from_db()
    assert item.gone_at is not None


def test_an_item_retried_elsewhere_is_reread_and_reported(client_for, bob, emu_ws):
    item = _failed(emu_ws)
    with build_client(emu_ws) as client:  # someone else retried it in Control Room
        client.work_items.retry([item.external_id])
    html = (
        client_for(bob)
        .post(_action(item, "retry"), {"from": "row"}, **HX)
        .content.decode()
    )
    assert "no longer failed" in html and "Nothing was sent" in html
    item.refresh_from_db()
    assert item.state == "pending"
    assert AuditEvent.objects.get(action="work_item.retry").data["outcome"] == "refused"


def test_a_409_from_control_room_rereads_the_item(client_for, bob, emu_ws, emu):
    item = _failed(emu_ws)
    emu.faults.add(
        kind="error", status=409, path=r".*/work-items/batch$", method="POST", times=1
    )
    html = client_for(bob).post(_action(item, "retry"), **HX).content.decode()
    assert "(409)" in html and "re-read the item" in html
    assert "Traceback" not in html


def test_a_key_without_write_permission_gets_a_named_403(
    client_for, alice, bob, team_a, emu
):
    key = emu.create_key(["read_processes", "read_runs", "read_work_items"])
    workspace = workspace_on_emulator(
        emu, team_a, api_key=key, name="Read only", added_by=alice
    )
    failing_run(emu, items=1)
    full_sync(workspace)
    item = _failed(workspace)
    # The probe knows: the buttons are disabled and say why.
    detail = (
        client_for(bob)
        .get(reverse("workitems-item-detail", args=[item.pk]))
        .content.decode()
    )
    assert 'id="retry-button" disabled' in detail
    assert "lacks Processes.write_work_items" in detail
    # With a stale probe the button is enabled, and Control Room's 403 is named clearly.
    Workspace.objects.filter(pk=workspace.pk).update(
        permissions={**workspace.permissions, "write_work_items": True}
    )
    html = client_for(bob).post(_action(item, "retry"), **HX).content.decode()
    assert "403" in html and "Processes.write_work_items" in html
    assert _remote(workspace, item).state == "failed"


def test_server_errors_become_messages_not_500s(client_for, bob, emu_ws, emu):
    item = _failed(emu_ws)
    emu.faults.add(
        kind="error", status=503, path=r".*/work-items/batch$", method="POST"
    )
    response = client_for(bob).post(_action(item, "retry"), **HX)
    assert response.status_code == 200
    assert "internal error (503)" in response.content.decode()
    emu.faults.clear()


def test_a_disabled_workspace_allows_no_actions(client_for, bob, emu_ws):
    Workspace.objects.filter(pk=emu_ws.pk).update(enabled=False)
    item = _failed(emu_ws)
    detail = (
        client_for(bob)
        .get(reverse("workitems-item-detail", args=[item.pk]))
        .content.decode()
    )
    assert 'id="retry-button" disabled title="The workspace is disabled."' in detail
    html = client_for(bob).post(_action(item, "retry"), **HX).content.decode()
    assert "The workspace is disabled." in html
    assert _remote(emu_ws, item).state == "failed"


def test_roles(client_for, carol, charlie, emu_ws):
    item = _failed(emu_ws)
    detail = reverse("workitems-item-detail", args=[item.pk])
    viewer_page = client_for(carol).get(detail)
    assert viewer_page.status_code == 200
    assert "retry-button" not in viewer_page.content.decode()
    assert client_for(carol).post(_action(item, "retry")).status_code == 403
    assert client_for(charlie).get(detail).status_code == 404
    assert client_for(charlie).post(_action(item, "retry")).status_code == 404
    assert (
        client_for(carol)
        .post(reverse("workitems-item-payload", args=[item.pk]), {"payload": "{}"})
        .status_code
        == 403
    )
    assert client_for(carol).get(_action(item, "retry")).status_code == 405
    assert _remote(emu_ws, item).state == "failed"


def test_payload_parse_errors_name_line_and_column(client_for, bob, emu_ws):
    item = _failed(emu_ws)
    url = reverse("workitems-item-payload", args=[item.pk])
    html = (
        client_for(bob)
        .post(url, {"payload": '{\n  "order": 1,\n  "x": ,\n}'}, **HX)
        .content.decode()
    )
    assert "line 3, column 8" in html
    assert "Expecting value" in html
    plain = client_for(bob).post(url, {"payload": "[1, 2"})
    assert plain.status_code == 400 and "line 1, column 6" in plain.content.decode()


def test_schema_errors_are_listed_per_path_and_nothing_is_sent(client_for, bob, emu_ws):
    item = _failed(emu_ws)
    ProcessSchema.objects.create(
        workspace=emu_ws,
        process_external_id=item.process_external_id,
        schema={
            "type": "object",
            "required": ["order", "customer"],
            "properties": {
                "order": {"type": "integer"},
                "customer": {
                    "type": "object",
                    "properties": {
                        "email": {"type": "string", "format": "email", "minLength": 5}
                    },
                },
            },
        },
    )
    before = _remote(emu_ws, item).payload
    url = reverse("workitems-item-payload", args=[item.pk])
    html = (
        client_for(bob)
        .post(url, {"payload": '{"order": "7", "customer": {"email": "a"}}'}, **HX)
        .content.decode()
    )
    assert "$.order" in html and "is not of type" in html
    assert "$.customer.email" in html
    assert _remote(emu_ws, item).payload == before
    ok = client_for(bob).post(
        url, {"payload": '{"order": 7, "customer": {"email": "ann@example.com"}}'}, **HX
    )
    assert "Payload saved in Control Room." in ok.content.decode()
    assert _remote(emu_ws, item).payload == {
        "order": 7,
        "customer": {"email": "ann@example.com"},
    }
    item.refresh_from_db()
    assert item.payload == {"order": 7, "customer": {"email": "ann@example.com"}}
    assert AuditEvent.objects.filter(action="work_item.edit_payload").count() == 1


def test_upload_sends_the_file_with_a_clean_name(client_for, bob, emu_ws):
    item = _failed(emu_ws)
    upload = SimpleUploadedFile(
        "../../etc/in\x00voice 2024.pdf",
        b"%PDF-1.4 hello",
        content_type="application/pdf",
    )
    html = (
        client_for(bob)
        .post(reverse("workitems-item-upload", args=[item.pk]), {"file": upload}, **HX)
        .content.decode()
    )
    assert "Uploaded invoice 2024.pdf." in html
    files = _remote(emu_ws, item).files
    assert [(f.name, f.size) for f in files] == [("invoice 2024.pdf", 14)]
    assert (
        "invoice 2024.pdf" in html
    )  # the detail's file list, refreshed from Control Room


def test_upload_over_the_limit_is_refused_while_streaming(
    client_for, bob, emu_ws, settings
):
    settings.WORKROOM_MAX_UPLOAD_MB = 1
    item = _failed(emu_ws)
    big = SimpleUploadedFile("big.bin", b"x" * (1024 * 1024 + 10))
    client = client_for(bob)
    response = client.post(
        reverse("workitems-item-upload", args=[item.pk]), {"file": big}
    )
    assert response.status_code == 302
    follow = client.get(response["Location"])
    assert "larger than the 1 MB limit" in follow.content.decode()
    assert _remote(emu_ws, item).files == []
    html = (
        client_for(bob)
        .post(
            reverse("workitems-item-upload", args=[item.pk]),
            {"file": SimpleUploadedFile("big.bin", b"x" * (1024 * 1024 + 10))},
            **HX,
        )
        .content.decode()
    )
    assert "larger than the 1 MB limit" in html


def test_upload_needs_csrf_like_every_post(bob, emu_ws):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(bob)
    item = _failed(emu_ws)
    response = client.post(
        reverse("workitems-item-upload", args=[item.pk]),
        {"file": SimpleUploadedFile("a.txt", b"a")},
    )
    assert response.status_code == 403
