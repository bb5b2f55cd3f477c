"""Webhooks and per-run callbacks: signed, at least once, retried on non-2xx (a real local receiver)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from .emu_helpers import Api, error


class Receiver:
    def __init__(self, failures: int = 0) -> None:
        self.calls: list[tuple[bytes, dict[str, str]]] = []
        self.failures = failures
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.calls.append(
                    (body, {k.lower(): v for k, v in self.headers.items()})
                )
                status = 500 if receiver.failures > 0 else 200
                receiver.failures -= 1
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def wait(
        self,
        predicate: Callable[[list[tuple[bytes, dict[str, str]]]], bool],
        timeout: float = 5.0,
    ) -> None:
        deadline = time.monotonic() + timeout
        while not predicate(self.calls):
            assert time.monotonic() < deadline, f"receiver got {len(self.calls)} calls"
            time.sleep(0.02)

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def receiver():
    created: list[Receiver] = []

    def make(failures: int = 0) -> Receiver:
        created.append(Receiver(failures))
        return created[-1]

    yield make
    for r in created:
        r.close()


def test_webhook_crud_and_signed_delivery_with_retries(emu, receiver):
    api = Api(emu)
    hook_rx = receiver(failures=2)
    process = emu.store.add_process("Hooked", failure_rate=0.0, item_seconds=1)
    other = emu.store.add_process("Not Hooked")
    created = api.post(
        "webhooks",
        {
            "endpoint": hook_rx.url,
            "enabled_events": ["process_run.started", "process_run.completed"],
            "process": {"id": process.id},
        },
    ).json()
    assert created["secret"] and created["process"] == {"id": process.id}
    assert api.get(f"webhooks/{created['id']}").json() == created
    listed = api.get("webhooks").json()["data"]
    assert listed == [{k: v for k, v in created.items() if k != "secret"}]
    emu.store.create_run(other.id)
    run = emu.store.create_run(process.id, payloads=[1])
    emu.advance(60)
    hook_rx.wait(
        lambda calls: len(calls) >= 4
    )  # started (fails twice, then OK) + completed
    time.sleep(0.2)
    events = []
    for body, headers in hook_rx.calls:
        expected = hmac.new(
            created["secret"].encode(), body, hashlib.sha256
        ).hexdigest()
        assert headers["x-rc-signature"] == expected
        events.append(json.loads(body))
    assert all(
        e["payload"]["processRunId"] == run.id
        and e["payload"]["workspaceId"] == emu.workspace_id
        for e in events
    )
    assert (
        len(events) == 4
    )  # two events, two 500 answers retried with the SAME event id (dedupe on id)
    by_id: dict[str, set[str]] = {}
    for event in events:
        by_id.setdefault(event["id"], set()).add(event["event"])
    assert sorted(next(iter(v)) for v in by_id.values()) == [
        "process_run.completed",
        "process_run.started",
    ]
    assert {
        e["payload"]["state"] for e in events if e["event"] == "process_run.completed"
    } == {"completed"}
    log = emu.deliveries()
    assert {d["status"] for d in log} == {"delivered"} and sum(
        d["attempts"] for d in log
    ) == 4
    assert api.delete(f"webhooks/{created['id']}").json() == {
        "id": created["id"],
        "deleted": True,
    }
    error(api.get(f"webhooks/{created['id']}"), 404)
    error(api.delete(f"webhooks/{created['id']}"), 404)


def test_per_run_callback_and_bounded_attempts(emu, receiver):
    api = Api(emu)
    rx = receiver()
    dead = receiver(failures=100)
    process = emu.store.add_process("Callbacks", failure_rate=1.0, item_seconds=1)
    body = {
        "callback": {
            "url": rx.url,
            "secret": "cb-secret",
            "callback_events": ["unresolved"],
        }
    }
    run_id = api.post(f"processes/{process.id}/process-runs", body).json()["id"]
    doomed = {
        "callback": {"url": dead.url, "secret": "x", "callback_events": ["started"]}
    }
    api.post(f"processes/{process.id}/process-runs", doomed)
    emu.advance(60)
    rx.wait(lambda calls: len(calls) == 1)
    raw, headers = rx.calls[0]
    assert (
        headers["x-rc-signature"]
        == hmac.new(b"cb-secret", raw, hashlib.sha256).hexdigest()
    )
    event = json.loads(raw)
    assert (
        event["event"] == "process_run.unresolved"
        and event["payload"]["processRunId"] == run_id
    )
    assert event["webhookEventTimestamp"].endswith("Z")
    dead.wait(lambda calls: len(calls) == 5, timeout=8)  # max_attempts, then given up
    time.sleep(0.3)
    assert len(dead.calls) == 5
    assert any(d["status"] == "failed" and d["attempts"] == 5 for d in emu.deliveries())
