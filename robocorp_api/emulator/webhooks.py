"""Webhook and per-run callback delivery: signed POSTs from a background thread, at least once.

Body: `{"id", "webhookEventTimestamp", "event": "process_run.<started|completed|unresolved>", "payload":
{"workspaceId", "processId", "processName", "processRunId", "runNo", "state", "startedAt", "endedAt"}}`.
Header `x-rc-signature` = lowercase hex HMAC-SHA256 of the raw body with the secret. Non-2xx answers and
connection errors are retried with exponential backoff (`backoff * 2**attempt` seconds) up to `max_attempts`.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import itertools
import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any

from .store import Run, Store
from .synth import iso


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass
class Delivery:
    id: str
    event: str
    url: str
    body: bytes
    secret: str
    source: str  # "webhook:<id>" or "callback:<run id>"
    attempts: int = 0
    status: str = "pending"  # pending | delivered | failed
    responses: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "event": self.event,
            "url": self.url,
            "source": self.source,
            "attempts": self.attempts,
            "status": self.status,
            "responses": list(self.responses),
            "body": json.loads(self.body),
        }


class WebhookDispatcher:
    """Subscribes to run state changes in the store and delivers them."""

    def __init__(
        self,
        store: Store,
        *,
        max_attempts: int = 5,
        backoff: float = 0.5,
        timeout: float = 5.0,
    ) -> None:
        self.store = store
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.timeout = timeout
        self._queue: list[tuple[float, int, Delivery]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._stop = False
        self.log: list[Delivery] = []
        self._thread: threading.Thread | None = None
        store.listeners.append(self.on_run_event)

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._loop, name="emulator-webhooks", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def on_run_event(self, store: Store, run: Run, event: str, when: float) -> None:
        process = store.processes[run.process_idx]
        payload = {
            "workspaceId": store.workspace_id,
            "processId": process.id,
            "processName": process.name,
            "processRunId": run.id,
            "runNo": run.run_no,
            "state": run.state,
            "startedAt": None if run.started_at is None else iso(run.started_at),
            "endedAt": None if run.ended_at is None else iso(run.ended_at),
        }
        targets: list[tuple[str, str, str]] = [
            (hook.endpoint, hook.secret, f"webhook:{hook.id}")
            for hook in store.webhooks.values()
            if f"process_run.{event}" in hook.enabled_events
            and hook.process_idx in (None, process.idx)
        ]
        if run.callback and event in run.callback["callback_events"]:
            targets.append(
                (run.callback["url"], run.callback["secret"], f"callback:{run.id}")
            )
        for url, secret, source in targets:
            event_id = str(uuid.uuid4())
            body = {
                "id": event_id,
                # Wall-clock time, not simulated: receivers check it against their own clock.
                "webhookEventTimestamp": iso(time.time()),
                "event": f"process_run.{event}",
                "payload": payload,
            }
            raw = json.dumps(body, separators=(",", ":")).encode()
            self._push(
                Delivery(event_id, f"process_run.{event}", url, raw, secret, source),
                0.0,
            )

    def _push(self, delivery: Delivery, delay: float) -> None:
        with self._cond:
            if delivery.attempts == 0:
                self.log.append(delivery)
                del self.log[:-2000]
            heapq.heappush(
                self._queue, (time.monotonic() + delay, next(self._seq), delivery)
            )
            self._cond.notify()

    def deliveries(self) -> list[dict[str, Any]]:
        with self._cond:
            return [d.to_dict() for d in self.log]

    def clear(self) -> None:
        with self._cond:
            self.log.clear()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._stop and (
                    not self._queue or self._queue[0][0] > time.monotonic()
                ):
                    self._cond.wait(
                        None
                        if not self._queue
                        else max(0.0, self._queue[0][0] - time.monotonic())
                    )
                if self._stop:
                    return
                _, _, delivery = heapq.heappop(self._queue)
            self._attempt(delivery)

    def _attempt(self, delivery: Delivery) -> None:
        delivery.attempts += 1
        request = urllib.request.Request(  # noqa: S310 - endpoints are http(s) URLs validated at registration
            delivery.url,
            data=delivery.body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": "Control-Room-Emulator-Webhooks/1.0",
                "x-rc-signature": sign(delivery.secret, delivery.body),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:  # noqa: S310
                status = answer.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except (OSError, ValueError) as exc:
            delivery.responses.append(f"error: {type(exc).__name__}")
            status = 0
        else:
            delivery.responses.append(str(status))
        if status and status not in range(200, 300):
            delivery.responses.append(str(status))
        if 200 <= status < 300:
            delivery.status = "delivered"
        elif delivery.attempts >= self.max_attempts:
            delivery.status = "failed"
        else:
            self._push(delivery, self.backoff * 2 ** (delivery.attempts - 1))
