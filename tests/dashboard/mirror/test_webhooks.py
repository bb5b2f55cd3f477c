"""Webhooks: registering Workroom's receiver in Control Room, and receiving deliveries."""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from dashboard.audit.models import AuditEvent
from dashboard.mirror.models import (
    ProcessRun,
    SyncRun,
    WebhookEvent,
    WebhookRegistration,
)
from dashboard.mirror.services.webhooks import signature_for, webhooks_register
from tests.dashboard.mirror.helpers import add_runs
from tests.dashboard.support.sync import full_sync

pytestmark = [pytest.mark.django_db, pytest.mark.emulator]


def _register(
    ws: Any, emu: Any, alice: Any, endpoint: str = "http://127.0.0.1:9/hooks/x/"
) -> list[WebhookRegistration]:
    emu.store.add_process("Invoice Processing")
    return webhooks_register(ws, alice, endpoint=endpoint)


def _delivery(
    run_id: str = "run-1", event_id: str | None = None, timestamp: str | None = None
) -> bytes:
    return json.dumps(
        {
            "id": event_id or str(uuid.uuid4()),
            "webhookEventTimestamp": timestamp or timezone.now().isoformat(),
            "event": "process_run.completed",
            "payload": {
                "workspaceId": "ws",
                "processRunId": run_id,
                "state": "completed",
            },
        }
    ).encode()


def _post(client: Any, ws: Any, body: bytes, signature: str) -> Any:
    url = reverse("mirror-webhook-receive", kwargs={"workspace_uid": ws.uid})
    return client.post(
        url,
        body,
        content_type="application/json",
        headers={"x-rc-signature": signature},
    )


def _secret(emu: Any, registration: WebhookRegistration) -> str:
    return str(emu.store.webhooks[registration.external_id].secret)


def test_registering_creates_one_webhook_per_process_with_the_secret_encrypted(
    ws, emu, alice
):
    emu.store.add_process("Order Intake")
    registrations = _register(ws, emu, alice)
    assert len(registrations) == 2
    hooks = emu.store.webhooks
    assert {h.endpoint for h in hooks.values()} == {"http://127.0.0.1:9/hooks/x/"}
    for registration in registrations:
        secret = _secret(emu, registration)
        assert secret not in registration.secret_ciphertext
        assert secret not in repr(registration)
    assert AuditEvent.objects.filter(action="webhook.registered").count() == 1
    assert (
        webhooks_register(ws, alice, endpoint="http://127.0.0.1:9/hooks/x/") == []
    )  # idempotent


def test_a_signed_delivery_queues_a_sync_of_its_run(ws, emu, alice, client):
    registration = _register(ws, emu, alice)[0]
    runs = add_runs(emu, processes=1, runs=1, items=3)
    full_sync(ws)
    body = _delivery(runs[0].id)
    response = _post(client, ws, body, signature_for(_secret(emu, registration), body))
    assert response.status_code == 202
    sync_run = SyncRun.objects.get(trigger=SyncRun.Trigger.WEBHOOK)
    assert sync_run.target_run_external_id == runs[0].id
    assert WebhookEvent.objects.get().sync_run == sync_run
    assert ProcessRun.objects.get(external_id=runs[0].id).needs_refresh


def test_a_bad_signature_is_rejected(ws, emu, alice, client):
    registration = _register(ws, emu, alice)[0]
    body = _delivery()
    assert (
        _post(client, ws, body, signature_for("not-the-secret", body)).status_code
        == 403
    )
    assert _post(client, ws, body, "").status_code == 403
    tampered = body.replace(b"completed", b"unresolved", 1)
    assert (
        _post(
            client, ws, tampered, signature_for(_secret(emu, registration), body)
        ).status_code
        == 403
    )
    assert not WebhookEvent.objects.exists()
    assert not SyncRun.objects.exists()


def test_a_replayed_delivery_is_ignored(ws, emu, alice, client):
    registration = _register(ws, emu, alice)[0]
    body = _delivery(event_id="evt-1")
    signature = signature_for(_secret(emu, registration), body)
    assert _post(client, ws, body, signature).status_code == 202
    second = _post(client, ws, body, signature)
    assert second.status_code == 200
    assert second.json() == {"status": "duplicate"}
    assert WebhookEvent.objects.count() == 1
    assert SyncRun.objects.count() == 1


def test_bad_requests_get_clear_answers(ws, emu, alice, client):
    registration = _register(ws, emu, alice)[0]
    secret = _secret(emu, registration)
    assert (
        _post(client, ws, b"not json", signature_for(secret, b"not json")).status_code
        == 400
    )
    no_id = b'{"event": "x"}'
    assert _post(client, ws, no_id, signature_for(secret, no_id)).status_code == 400
    unknown = reverse("mirror-webhook-receive", kwargs={"workspace_uid": uuid.uuid4()})
    assert (
        client.post(unknown, b"{}", content_type="application/json").status_code == 404
    )
    get = client.get(
        reverse("mirror-webhook-receive", kwargs={"workspace_uid": ws.uid})
    )
    assert get.status_code == 405


@pytest.mark.django_db(transaction=True)
def test_the_emulator_delivers_to_the_receiver_end_to_end(
    ws, emu, alice, live_server, sync_queue
):
    endpoint = live_server.url + reverse(
        "mirror-webhook-receive", kwargs={"workspace_uid": ws.uid}
    )
    registrations = _register(ws, emu, alice, endpoint=endpoint)
    process_id = registrations[0].process_external_id
    run = emu.store.create_run(process_id, payloads=[{"n": 1}])
    emu.advance(600)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and WebhookEvent.objects.count() < 2:
        time.sleep(0.05)
    events = set(WebhookEvent.objects.values_list("event", "process_run_external_id"))
    assert ("process_run.started", run.id) in events
    assert ("process_run.completed", run.id) in events or (
        "process_run.unresolved",
        run.id,
    ) in events
    while time.monotonic() < deadline and any(
        d["status"] != "delivered" for d in emu.deliveries()
    ):
        time.sleep(0.05)  # the emulator records the 2xx after our answer is sent
    assert [d["status"] for d in emu.deliveries()] == ["delivered"] * len(
        emu.deliveries()
    )


def test_a_deeply_nested_signed_delivery_is_a_clear_400(ws, emu, alice, client):
    # Issue 11 (e): 30,000 levels raised RecursionError in json.loads → 500.
    secret = _secret(emu, _register(ws, emu, alice)[0])
    for body in (
        b"[" * 30_000 + b"]" * 30_000,
        b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
    ):
        response = _post(client, ws, body, signature_for(secret, body))
        assert response.status_code == 400
        assert "nested more than" in response.json()["error"]
    # Brackets inside strings do not count.
    body = _delivery(run_id="[" * 1000)
    assert _post(client, ws, body, signature_for(secret, body)).status_code == 202


@pytest.mark.parametrize(
    ("timestamp", "accepted"),
    [
        (lambda now: now - timedelta(seconds=290), True),
        (lambda now: now + timedelta(seconds=60), True),
        (lambda now: now - timedelta(seconds=301), False),
        (lambda now: now + timedelta(hours=1), False),
        (lambda now: "2024-05-01T12:00:00", False),  # no offset
        (lambda now: "2024-13-45T12:00:00Z", False),
        (lambda now: "yesterday", False),
        (lambda now: None, False),
    ],
)
def test_deliveries_outside_the_timestamp_window_are_refused_and_logged(
    ws, emu, alice, client, caplog, timestamp, accepted
):
    # Issue 11 (i): deduplication by event id alone let a captured delivery be replayed later.
    secret = _secret(emu, _register(ws, emu, alice)[0])
    value = timestamp(timezone.now())
    event = json.loads(_delivery())
    event["webhookEventTimestamp"] = (
        value.isoformat() if hasattr(value, "year") else value
    )
    body = json.dumps(event).encode()
    response = _post(client, ws, body, signature_for(secret, body))
    assert response.status_code == (202 if accepted else 400)
    assert WebhookEvent.objects.exists() == accepted
    if not accepted and hasattr(value, "year"):
        assert "webhook for workspace" in caplog.text and "refused" in caplog.text


def test_the_window_is_a_setting(ws, emu, alice, client, settings):
    settings.WORKROOM_WEBHOOK_MAX_AGE_SECONDS = 7200
    secret = _secret(emu, _register(ws, emu, alice)[0])
    old = (timezone.now() - timedelta(hours=1)).isoformat()
    body = _delivery(timestamp=old)
    assert _post(client, ws, body, signature_for(secret, body)).status_code == 202
