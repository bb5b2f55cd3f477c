"""The fleet pages over a real emulator: roles, audit, secrets shown once, contents never logged."""

from __future__ import annotations

import io
import json
import logging
import zipfile
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from dashboard.audit.models import AuditEvent
from dashboard.fleet.models import TaskPackage
from tests.dashboard.support.sync import full_sync

pytestmark = [pytest.mark.emulator, pytest.mark.django_db]


def _stored(asset: Any) -> bytes:
    """An emulator asset's bytes, read afresh (the page changed it behind the test's back)."""
    data = asset.data
    assert isinstance(data, bytes)
    return data


def _zip(text: str = "tasks: {}") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr("robot.yaml", text)
    return buffer.getvalue()


def test_workers_pages_show_offline_workers_first_and_highlighted(
    client_for, carol, emu, ws
):
    emu.set_worker_online("worker-eu1-02", False)
    full_sync(ws)
    for url in (
        reverse("fleet-workers"),
        reverse("fleet-workspace-workers", args=[ws.pk]),
    ):
        page = client_for(carol).get(url).content.decode()  # a viewer sees workers
        first, second = page.index("worker-eu1-02"), page.index("worker-eu1-01")
        assert first < second
        assert 'class="worker-offline" data-worker="worker-eu1-02"' in page
        assert "badge-worker-idle" in page
    emu.set_worker_online("worker-eu1-02", True)
    full_sync(ws)
    page = client_for(carol).get(reverse("fleet-workspace-workers", args=[ws.pk]))
    assert "offline → idle" in page.content.decode()


def test_a_viewer_can_read_workers_now(client_for, carol, emu, ws):
    response = client_for(carol).post(reverse("fleet-workers-refresh", args=[ws.pk]))
    assert response.status_code == 302
    assert ws.mirror_workers.count() == 2


@pytest.mark.parametrize("user", ["bob", "carol"])
def test_admin_pages_refuse_operators_and_viewers(client_for, ws, user, request):
    client = client_for(request.getfixturevalue(user))
    for name in ("fleet-groups", "fleet-packages"):
        assert client.get(reverse(name, args=[ws.pk])).status_code == 403
    assert (
        client.post(
            reverse("fleet-assets", args=[ws.pk]), {"asset-name": "x"}
        ).status_code
        == 403
    )
    assert client.get(reverse("fleet-asset", args=[ws.pk, "a"])).status_code == 403


def test_a_link_token_secret_is_shown_once_and_never_stored(
    client_for, alice, emu, ws, caplog
):
    caplog.set_level(logging.DEBUG)
    client = client_for(alice)
    created = client.post(
        reverse("fleet-groups", args=[ws.pk]), {"group-name": "SAP robots"}
    )
    assert created.status_code == 302
    group = next(g for g in emu.store.fleet.groups.values() if g.name == "SAP robots")
    answer = client.post(
        reverse("fleet-token-create", args=[ws.pk, group.id]),
        {"token-name": "laptop", "token-expires": "7"},
    )
    assert answer.status_code == 200
    [token] = [
        t for t in emu.store.fleet.link_tokens.values() if t.group_id == group.id
    ]
    assert token.token in answer.content.decode()
    assert (
        token.token
        not in client.get(reverse("fleet-groups", args=[ws.pk])).content.decode()
    )
    assert token.token not in caplog.text
    events = AuditEvent.objects.filter(action__startswith="fleet.")
    assert {e.action for e in events} == {
        "fleet.group_create",
        "fleet.link_token_create",
    }
    assert all(token.token not in json.dumps(e.data) + e.summary for e in events)

    extended = client.post(
        reverse("fleet-token-update", args=[ws.pk, group.id, token.id]),
        {"edit-name": "laptop", "edit-expires": "never"},
    )
    assert extended.status_code == 302 and token.expires_at is None
    revoked = client.post(
        reverse("fleet-token-delete", args=[ws.pk, group.id, token.id])
    )
    assert revoked.status_code == 302 and token.id not in emu.store.fleet.link_tokens
    deleted = client.post(reverse("fleet-group-delete", args=[ws.pk, group.id]))
    assert deleted.status_code == 302 and group.id not in emu.store.fleet.groups


def test_a_refused_action_is_a_message_not_a_500(client_for, alice, emu, ws):
    emu.faults.add(kind="error", status=503, path="/worker-groups$", method="POST")
    answer = client_for(alice).post(
        reverse("fleet-groups", args=[ws.pk]), {"group-name": "X"}
    )
    assert answer.status_code == 400
    assert 'id="action-error"' in answer.content.decode()
    assert (
        AuditEvent.objects.get(action="fleet.group_create").data["outcome"] == "failed"
    )


def test_task_packages_upload_download_delete(client_for, alice, emu, ws):
    client = client_for(alice)
    url = reverse("fleet-packages", args=[ws.pk])
    refused = client.post(
        url, {"name": "bot", "bundle": SimpleUploadedFile("b.zip", b"not a zip")}
    )
    assert (
        refused.status_code == 400 and "not a zip archive" in refused.content.decode()
    )
    bundle = _zip()
    sent = client.post(
        url, {"name": "invoice bot", "bundle": SimpleUploadedFile("b.zip", bundle)}
    )
    assert sent.status_code == 302
    package = TaskPackage.objects.get(workspace=ws)
    assert emu.store.fleet.packages[package.external_id].data == bundle
    assert package.size == len(bundle)
    download = client.get(reverse("fleet-package-download", args=[ws.pk, package.pk]))
    assert b"".join(download.streaming_content) == bundle
    assert download["Content-Disposition"] == 'attachment; filename="invoice_bot.zip"'
    assert (
        client.post(
            reverse("fleet-package-delete", args=[ws.pk, package.pk])
        ).status_code
        == 302
    )
    assert not TaskPackage.objects.exists() and not emu.store.fleet.packages
    actions = list(
        AuditEvent.objects.filter(action__startswith="fleet.").values_list(
            "action", flat=True
        )
    )
    assert sorted(actions) == ["fleet.package_delete", "fleet.package_upload"]


def test_assets_create_edit_json_upload_delete(
    client_for, alice, carol, emu, ws, caplog
):
    caplog.set_level(logging.DEBUG)
    client = client_for(alice)
    created = client.post(
        reverse("fleet-assets", args=[ws.pk]), {"asset-name": "settings"}
    )
    assert created.status_code == 302
    asset = next(iter(emu.store.fleet.assets.values()))
    detail = reverse("fleet-asset", args=[ws.pk, asset.id])
    assert created["Location"] == detail

    bad = client.post(
        detail,
        {"edit-content": '{"rate": 3,}', "edit-content_type": "application/json"},
    )
    assert bad.status_code == 400
    assert (
        "Not valid JSON" in bad.content.decode()
        and "line 1, column 12" in bad.content.decode()
    )
    assert asset.data is None

    secret_value = "s3cr3t-connection-string"
    good = client.post(
        detail,
        {
            "edit-content": json.dumps({"dsn": secret_value}),
            "edit-content_type": "application/json",
        },
    )
    assert good.status_code == 302
    assert json.loads(_stored(asset)) == {"dsn": secret_value}
    assert secret_value in client.get(detail).content.decode()

    upload = client.post(
        detail, {"file-file": SimpleUploadedFile("logo.png", b"\x89PNG..", "image/png")}
    )
    assert upload.status_code == 302
    assert (asset.data, asset.content_type) == (b"\x89PNG..", "image/png")
    assert "Binary content" in client.get(detail).content.decode()

    listing = (
        client_for(carol).get(reverse("fleet-assets", args=[ws.pk])).content.decode()
    )
    assert "settings" in listing and detail not in listing  # viewers see names only
    assert secret_value not in caplog.text
    events = AuditEvent.objects.filter(action__startswith="fleet.asset")
    assert all(secret_value not in json.dumps(e.data) + e.summary for e in events)

    assert (
        client.post(reverse("fleet-asset-delete", args=[ws.pk, asset.id])).status_code
        == 302
    )
    assert not emu.store.fleet.assets
    assert client.get(detail).status_code == 404


def test_the_warning_shows_on_home_triage_and_processes(client_for, carol, emu, ws):
    process = emu.store.add_process("Invoices", steps=["Post"], failure_rate=0.0)
    for name in ("worker-eu1-01", "worker-eu1-02"):
        emu.set_worker_online(name, False)
    emu.store.create_run(process.id, payloads=[{"n": 1}, {"n": 2}])
    emu.advance(30)
    full_sync(ws)
    client = client_for(carol)
    for name in ("home", "workitems-triage", "processes-overview"):
        page = client.get(reverse(name)).content.decode()
        assert "no-worker-warning" in page, name
        assert "2 work items pending in Fleet WS, but no worker is online" in page
    emu.set_worker_online("worker-eu1-01", True)
    full_sync(ws)
    assert (
        "no-worker-warning"
        not in client.get(reverse("workitems-triage")).content.decode()
    )


def test_the_item_page_says_why_files_cannot_be_downloaded(client_for, carol, emu, ws):
    from dashboard.mirror.models import WorkItem

    process = emu.store.add_process("Docs", failure_rate=0.0)
    emu.store.create_run(process.id, payloads=[{"doc": 1}])
    emu.advance(30)
    full_sync(ws)
    row = WorkItem.objects.get(workspace=ws)
    WorkItem.objects.filter(pk=row.pk).update(
        files=[{"id": "f1", "name": "scan.pdf", "size": 8}],
        payload_synced_at=row.created_at,
    )
    url = reverse("workitems-item-detail", args=[row.pk])
    page = client_for(carol).get(url).content.decode()
    assert "scan.pdf" in page
    assert 'id="file-download-note"' in page


def test_an_unreachable_asset_read_is_a_message(client_for, alice, emu, ws):
    emu.faults.add(kind="error", status=503, path="/assets/", method="GET")
    answer = client_for(alice).get(reverse("fleet-asset", args=[ws.pk, "cfg"]))
    assert answer.status_code == 400
    assert 'id="action-error"' in answer.content.decode()


def test_group_membership_is_changed_and_remembered(client_for, alice, carol, emu, ws):
    full_sync(ws)
    client = client_for(alice)
    client.post(reverse("fleet-groups", args=[ws.pk]), {"group-name": "SAP robots"})
    group = next(g for g in emu.store.fleet.groups.values() if g.name == "SAP robots")
    worker = emu.store.fleet.find_worker("worker-eu1-02")
    url = reverse("fleet-group-membership", args=[ws.pk, group.id])
    added = client.post(url, {"worker": worker.id, "action": "add"})
    assert added.status_code == 302
    assert group.id in worker.groups
    page = client_for(carol).get(reverse("fleet-workspace-workers", args=[ws.pk]))
    assert "Default, SAP robots" in page.content.decode()  # groups from the add answer
    removed = client.post(url, {"worker": worker.id, "action": "remove"})
    assert removed.status_code == 302 and group.id not in worker.groups
    again = client.post(url, {"worker": worker.id, "action": "remove"})
    assert (
        again.status_code == 400
    )  # not a member any more: Control Room's 404, said in the page
    assert client.post(url, {"action": "add"}).status_code == 400
    actions = AuditEvent.objects.filter(action__startswith="fleet.group_").values_list(
        "action", flat=True
    )
    assert sorted(set(actions)) == [
        "fleet.group_add_worker",
        "fleet.group_create",
        "fleet.group_remove_worker",
    ]


def test_workers_and_groups_renamed_removed_and_workspace_token(
    client_for, alice, carol, emu, ws
):
    full_sync(ws)
    worker = emu.store.fleet.find_worker("worker-eu1-01")
    client = client_for(alice)
    url = reverse("fleet-worker-change", args=[ws.pk, worker.id])
    assert client_for(carol).post(url, {"action": "delete"}).status_code == 403
    page = client.get(reverse("fleet-workspace-workers", args=[ws.pk])).content.decode()
    assert url in page  # admins get the manage forms
    assert client.post(url, {"action": "rename", "name": "robot-a"}).status_code == 302
    assert worker.name == "robot-a"
    assert ws.mirror_workers.filter(name="robot-a").exists()  # read again at once
    assert client.post(url, {"action": "delete"}).status_code == 302
    assert worker.id not in emu.store.fleet.workers
    assert ws.mirror_workers.get(name="robot-a").gone_at is not None

    default = emu.store.fleet.groups[emu.store.fleet.default_group]
    rename = reverse("fleet-group-rename", args=[ws.pk, default.id])
    assert client.post(rename, {"rename-name": "Main"}).status_code == 302
    assert default.name == "Main"
    answer = client.post(
        reverse("fleet-workspace-token-create", args=[ws.pk]),
        {"wstoken-name": "spare", "wstoken-expires": "1"},
    )
    [token] = [t for t in emu.store.fleet.link_tokens.values() if t.group_id is None]
    assert token.token in answer.content.decode()
    refused = client.post(
        reverse("fleet-workspace-token-create", args=[ws.pk]),
        {"wstoken-name": "spare", "wstoken-expires": "never"},
    )
    assert refused.status_code == 400
