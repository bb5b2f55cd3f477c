"""The API key never leaks (API.md §1.2; DEVELOPERS.md secrets rule; STYLE.md §6).

Every error kind is forced (canned answers via ``responses``, a real refused connection, and
real HTTP against the emulator with its fault injection); ``str()``, ``repr()``, the formatted
traceback and the logs captured at DEBUG (urllib3 included) are scanned for the key.
"""

from __future__ import annotations

import logging
import pickle
import socket
import traceback
from collections.abc import Callable
from typing import Any

import pytest
import requests
import responses

from robocorp_api import ControlRoomClient, ControlRoomError
from robocorp_api.emulator import EmulatorServer
from robocorp_api.models import Callback

KEY = "rc-key-DO-NOT-LEAK-93f1c2"
BASE = "https://cr.example.test/api/v1"
WS = "ws-9"
W = f"{BASE}/workspaces/{WS}"


def make_client(base_url: str = BASE) -> ControlRoomClient:
    return ControlRoomClient(
        KEY,
        workspace_id=WS,
        base_url=base_url,
        max_retries=1,
        backoff_base=0.001,
        timeout=2,
    )


def assert_no_key(err: BaseException, caplog: pytest.LogCaptureFixture) -> None:
    texts = [
        str(err),
        repr(err),
        "".join(traceback.format_exception(err)),
        repr(err.args),
        repr(vars(err)),
        caplog.text,
        "".join(r.getMessage() for r in caplog.records),
    ]
    for text in texts:
        assert KEY not in text


def raise_for(
    status: int, body: Any = None, headers: dict[str, str] | None = None
) -> Callable[[], Any]:
    def call() -> Any:
        with responses.RequestsMock() as rsps:
            rsps.get(f"{W}/processes", status=status, json=body, headers=headers)
            return make_client().processes.list()

    return call


def canned_exception(exc: Exception, method: str = "GET") -> Callable[[], Any]:
    def call() -> Any:
        with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
            if method == "GET":
                rsps.get(f"{W}/work-items/w1", body=exc)
                return make_client().work_items.get("w1")
            rsps.post(f"{W}/work-items/batch", body=exc)
            return make_client().work_items.retry(["w1"])

    return call


def malformed() -> Any:
    with responses.RequestsMock() as rsps:
        rsps.get(
            f"{W}/work-items/w1", body=b"{not json", content_type="application/json"
        )
        return make_client().work_items.get("w1")


def looping_pages() -> Any:
    with responses.RequestsMock() as rsps:
        loop = {"data": [], "has_more": True, "next": f"{W}/work-items?c=1"}
        rsps.get(f"{W}/work-items", json=loop)
        rsps.get(f"{W}/work-items", json=loop)
        return list(make_client().work_items.list())


def refused() -> Any:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return make_client(f"http://127.0.0.1:{port}/api/v1").webhooks.list()


def error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


CASES: dict[str, Callable[[], Any]] = {
    "400": raise_for(400, error("bad_request", "nope")),
    "401": raise_for(401, error("unauthorized", f"Invalid key {KEY}")),
    "403": raise_for(403, error("forbidden", "Missing permission")),
    "404": raise_for(404, error("not_found", "gone")),
    "409": raise_for(409, error("conflict", "busy")),
    "429-long": raise_for(429, error("rate_limited", "slow"), {"Retry-After": "3600"}),
    "500": raise_for(500, error("internal", "boom")),
    "418": raise_for(418, {"weird": True}),
    "read-timeout-get": canned_exception(requests.ReadTimeout("read timed out")),
    "reset-get": canned_exception(requests.ConnectionError("Connection aborted.")),
    "reset-post": canned_exception(
        requests.ConnectionError("Connection aborted."), "POST"
    ),
    "timeout-post": canned_exception(requests.ReadTimeout("read timed out"), "POST"),
    "malformed": malformed,
    "loop": looping_pages,
    "refused": refused,
}


@pytest.mark.parametrize("case", list(CASES))
def test_no_error_kind_reveals_the_key(
    case: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger("urllib3").setLevel(logging.DEBUG)
    with pytest.raises(ControlRoomError) as info:
        CASES[case]()
    assert_no_key(info.value, caplog)
    # Errors survive pickling (Celery result backends) with their fields and still no key.
    clone = pickle.loads(pickle.dumps(info.value))
    assert str(clone) == str(info.value)
    assert KEY not in str(clone)


def test_reprs_of_the_client_and_its_parts_hide_the_key() -> None:
    client = make_client()
    parts: list[object] = [
        client,
        client.work_items,
        client._transport,
        client._transport._key,
        client._transport._auth,
        client.work_items.list(),
        Callback(url="https://hook.example", secret=KEY, callback_events=["completed"]),
    ]
    for part in parts:
        assert KEY not in repr(part)
        assert KEY not in str(part)
    assert KEY not in repr(vars(client))


def test_the_session_does_not_store_the_key_in_default_headers() -> None:
    client = make_client()
    assert KEY not in repr(dict(client.session.headers))
    assert client.session.auth is None


EMULATOR_FAULTS: dict[
    str, tuple[dict[str, Any] | None, Callable[[ControlRoomClient], Any]]
] = {
    "400": (None, lambda c: list(c.work_items.list(state="bogus"))),
    "403": (None, lambda c: c.webhooks.list()),  # the key below lacks read_webhooks
    "404": (None, lambda c: c.step_runs.get("missing")),
    "409": (
        {"kind": "error", "path": "/work-items$", "status": 409},
        lambda c: c.work_items.create("p", {}),
    ),
    "429": (
        {"kind": "rate_limit", "path": "/processes$", "retry_after": "600"},
        lambda c: c.processes.list(),
    ),
    "503": (
        {"kind": "error", "path": "/processes$", "status": 503},
        lambda c: c.processes.list(),
    ),
    "drop-get": ({"kind": "drop", "path": "/processes$"}, lambda c: c.processes.list()),
    "drop-post": (
        {"kind": "drop", "path": "/batch$"},
        lambda c: c.work_items.retry(["x"]),
    ),
    "reset": (
        {"kind": "reset_mid_body", "path": "/work-items$"},
        lambda c: list(c.work_items.list()),
    ),
    "malformed": (
        {"kind": "malformed", "path": "/processes$"},
        lambda c: c.processes.list(),
    ),
    "timeout": (
        {"kind": "latency", "path": "/processes$", "latency_ms": 400},
        lambda c: c.processes.list(),
    ),
}


@pytest.mark.emulator
def test_no_error_over_real_http_reveals_the_key(
    emu: EmulatorServer, caplog: pytest.LogCaptureFixture
) -> None:
    permissions = [
        "read_processes",
        "read_runs",
        "read_work_items",
        "write_work_items",
        "read_run_outputs",
    ]
    key = emu.create_key(permissions)
    caplog.set_level(logging.DEBUG)
    logging.getLogger("urllib3").setLevel(logging.DEBUG)
    for name, (fault, call) in EMULATOR_FAULTS.items():
        emu.faults.clear()
        if fault:
            emu.faults.add(fault)
        client = ControlRoomClient(
            key,
            workspace_id=emu.workspace_id,
            base_url=emu.api_base_url,
            max_retries=1,
            backoff_base=0.001,
            timeout=(2, 0.2),
        )
        with pytest.raises(ControlRoomError) as info:
            call(client)
        err = info.value
        for text in (
            str(err),
            repr(err),
            "".join(traceback.format_exception(err)),
            caplog.text,
        ):
            assert key not in text, name
    assert "urllib3.connectionpool" in {
        r.name for r in caplog.records
    }  # the debug logs were captured
    emu.faults.clear()
