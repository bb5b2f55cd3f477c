"""Fixtures of the alert tests: a real SMTP server and a real HTTP receiver on loopback.

`smtp` is aiosmtpd in a thread of its own; Django's SMTP backend talks to it over TCP.
`receiver` is http.server in a thread; it checks every request's `Workroom-Signature` with
the secret the test gives it, the way a customer's endpoint would.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from dashboard.alerts import channels
from dashboard.alerts.models import Channel
from dashboard.workspaces.models import Workspace
from robocorp_api.emulator import EmulatorServer
from tests.dashboard.support.workspaces import workspace_on_emulator


@dataclass
class Mailbox:
    port: int = 0
    messages: list[tuple[list[str], EmailMessage]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append((list(envelope.rcpt_tos), parsed))
        return "250 Message accepted for delivery"

    def text(self, n: int, subtype: str = "plain") -> str:
        part = self.messages[n][1].get_body(preferencelist=(subtype,))
        assert part is not None
        content: str = part.get_content().replace("\r\n", "\n")
        return content

    def subjects(self) -> list[str]:
        return [str(m["Subject"]) for _, m in self.messages]

    def wait_for(self, n: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while len(self.messages) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.messages) >= n, self.subjects()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def smtp(settings: Any) -> Iterator[Mailbox]:
    """A real SMTP server on loopback; Django's SMTP backend points at it."""
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    mailbox.port = controller.port
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = controller.port
    settings.EMAIL_TIMEOUT = 10
    try:
        yield mailbox
    finally:
        controller.stop()


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    url: str
    secret: str
    requests: list[Received] = field(default_factory=list)
    status: int = 200  # what it answers; a test sets 500 to make a delivery fail
    delay: float = 0.0  # seconds it waits before answering (holds a sender mid-request)

    def wait_for(self, n: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while len(self.requests) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.requests) >= n, self.requests


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """An HTTP endpoint on loopback that records requests and verifies their HMAC signature."""
    state = Receiver(url="", secret=channels.new_signing_secret())

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            header = self.headers.get(channels.SIGNATURE_HEADER, "")
            state.requests.append(
                Received(
                    self.path,
                    dict(self.headers.items()),
                    body,
                    bool(header) and channels.verify(state.secret, body, header),
                )
            )
            time.sleep(state.delay)
            self.send_response(state.status)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/{uuid.uuid4().hex}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def ws(team_a: Any, emu: EmulatorServer) -> Workspace:
    return workspace_on_emulator(emu, team_a, name="Alerts WS")


@pytest.fixture
def with_emails(alice: Any, bob: Any, carol: Any) -> list[str]:
    emails = []
    for user in (alice, bob, carol):
        user.email = f"{user.username}@example.com"
        user.save(update_fields=["email"])
        emails.append(user.email)
    return emails


def email_channel(team: Any, **kwargs: Any) -> Channel:
    return Channel.objects.create(
        team=team, name="Mail", kind=Channel.Kind.EMAIL, **kwargs
    )


def webhook_channel(
    team: Any, receiver: Receiver, kind: str = Channel.Kind.WEBHOOK
) -> Channel:
    channel = Channel(team=team, name=f"Hook {kind}", kind=kind)
    channels.store_url(channel, receiver.url)
    channels.store_secret(channel, receiver.secret)
    channel.save()
    return channel


@pytest.fixture(autouse=True)
def alert_queue(settings: Any, redis_client: Any) -> Iterator[str]:
    """Route alert tasks to a queue of this test's own (a dev worker never sees them)."""
    name = f"alerts-test-{uuid.uuid4().hex[:10]}"
    settings.WORKROOM_ALERT_QUEUE = name
    yield name
    redis_client.delete(name)
