"""Client transport faults the emulator cannot produce (API.md §3.5, §5; ECOSYSTEM.md §A6, §A19).

Uses ``responses`` only for: Retry-After HTTP-date handling, a connection error between two
specific calls, pagination chains that loop or leave the origin, redirects, header checks on
the presigned upload. A refused connection is produced for real on a closed loopback port.
"""

from __future__ import annotations

import email.utils
import json
import logging
import socket
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
import responses

from robocorp_api import (
    AmbiguousResult,
    BadRequest,
    ConnectionFailed,
    ControlRoomClient,
    InvalidResponse,
    PermissionDenied,
    RateLimited,
    ServerError,
    TransientError,
    UnexpectedStatus,
)
from robocorp_api._http import parse_retry_after

BASE = "https://cr.example.test/api/v1"
WS = "ws-1"
KEY = "secret-key-7f3a9c"
W = f"{BASE}/workspaces/{WS}"


def make_client(**kwargs: Any) -> ControlRoomClient:
    kwargs.setdefault("max_retries", 3)
    kwargs.setdefault("backoff_base", 0.001)
    kwargs.setdefault("backoff_max", 0.002)
    return ControlRoomClient(KEY, workspace_id=WS, base_url=BASE, **kwargs)


def recorded_sleeps(client: ControlRoomClient) -> list[float]:
    waits: list[float] = []
    client._transport._sleep = waits.append
    return waits


def http_date(delta: timedelta) -> str:
    return email.utils.format_datetime(datetime.now(UTC) + delta, usegmt=True)


def page(
    data: list[Any], *, next_url: str | None = None, has_more: bool | None = None
) -> dict[str, Any]:
    return {
        "data": data,
        "has_more": bool(next_url) if has_more is None else has_more,
        "next": next_url,
    }


def proc(i: int) -> dict[str, Any]:
    return {"id": f"p{i}", "name": f"Process {i}", "created_at": "2024-05-01T12:00:00Z"}


class TestRetryAfterParsing:
    def test_it_reads_delta_seconds(self):
        assert parse_retry_after("3") == 3.0
        assert parse_retry_after(" 2.5 ") == 2.5

    def test_it_reads_an_http_date(self):
        now = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
        assert parse_retry_after("Wed, 01 May 2024 12:00:30 GMT", now=now) == 30.0

    def test_a_past_date_means_no_wait(self):
        now = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
        assert parse_retry_after("Wed, 01 May 2024 11:00:00 GMT", now=now) == 0.0

    def test_garbage_and_absence_give_none(self):
        assert parse_retry_after("soon") is None
        assert parse_retry_after("") is None
        assert parse_retry_after(None) is None

    def test_negative_seconds_are_clamped(self):
        assert parse_retry_after("-5") == 0.0


@responses.activate
def test_a_429_with_an_http_date_is_waited_for_then_retried():
    responses.get(
        f"{W}/processes",
        status=429,
        headers={"Retry-After": http_date(timedelta(seconds=3))},
    )
    responses.get(f"{W}/processes", json=page([proc(1)]))
    client = make_client()
    waits = recorded_sleeps(client)

    assert [p.id for p in client.processes.list()] == ["p1"]
    assert client.requests_made == 2
    assert len(waits) == 1
    assert 1.0 <= waits[0] <= 3.0  # HTTP-dates have one-second resolution


@responses.activate
def test_a_long_retry_after_date_raises_rate_limited_without_sleeping():
    responses.get(
        f"{W}/processes",
        status=429,
        headers={"Retry-After": http_date(timedelta(hours=1))},
    )
    client = make_client()
    waits = recorded_sleeps(client)

    with pytest.raises(RateLimited) as info:
        client.processes.list()
    assert info.value.retry_after is not None
    assert 3500 < info.value.retry_after <= 3600
    assert info.value.transient
    assert waits == []
    assert client.requests_made == 1


@responses.activate
def test_a_429_without_retry_after_backs_off_exponentially_with_jitter():
    for _ in range(4):
        responses.get(
            f"{W}/processes",
            status=429,
            json={"error": {"code": "rate_limited", "message": "slow down"}},
        )
    client = make_client(max_retries=3, backoff_base=1.0, backoff_max=3.0)
    waits = recorded_sleeps(client)

    with pytest.raises(RateLimited):
        client.processes.list()
    assert client.requests_made == 4
    assert len(waits) == 3
    for attempt, wait in enumerate(waits):
        assert 0 <= wait <= min(3.0, 2**attempt)


@responses.activate
def test_a_connection_lost_between_two_pages_is_retried_for_get():
    responses.get(f"{W}/work-items", json=page([], next_url=f"{W}/work-items?cursor=2"))
    responses.get(
        f"{W}/work-items",
        body=requests.ConnectionError("Connection aborted.", "RemoteDisconnected"),
    )
    responses.get(f"{W}/work-items", json=page([]))
    client = make_client()
    recorded_sleeps(client)

    assert list(client.work_items.list()) == []
    assert client.requests_made == 3


@responses.activate
def test_a_post_whose_answer_is_lost_raises_ambiguous_result_and_is_not_resent():
    responses.post(
        f"{W}/work-items/batch",
        body=requests.ConnectionError("Connection aborted.", "RemoteDisconnected"),
    )
    responses.post(f"{W}/work-items/batch", json={"accepted": True})
    client = make_client()

    with pytest.raises(AmbiguousResult) as info:
        client.work_items.retry(["a", "b"])
    assert not info.value.transient
    assert not isinstance(info.value, TransientError)
    assert client.requests_made == 1
    assert len(responses.calls) == 1


@responses.activate
def test_a_post_read_timeout_raises_ambiguous_result():
    responses.post(
        f"{W}/processes/p1/process-runs", body=requests.ReadTimeout("read timed out")
    )
    client = make_client()

    with pytest.raises(AmbiguousResult):
        client.process_runs.start("p1")
    assert client.requests_made == 1


@responses.activate
def test_a_post_connect_timeout_is_retried_because_nothing_was_sent():
    responses.post(
        f"{W}/processes/p1/process-runs",
        body=requests.ConnectTimeout("connect timed out"),
    )
    responses.post(f"{W}/processes/p1/process-runs", json={"started": True, "id": "r1"})
    client = make_client()
    recorded_sleeps(client)

    assert client.process_runs.start("p1").id == "r1"
    assert client.requests_made == 2


@responses.activate
def test_a_tls_failure_is_not_retried():
    responses.get(
        f"{W}/processes", body=requests.exceptions.SSLError("certificate verify failed")
    )
    client = make_client()
    with pytest.raises(ConnectionFailed, match="TLS"):
        client.processes.list()
    assert client.requests_made == 1


@responses.activate
def test_a_put_5xx_is_retried_but_a_post_5xx_is_not():
    responses.put(
        f"{W}/work-items/w1/payload",
        status=503,
        json={"error": {"code": "unavailable", "message": "x"}},
    )
    responses.put(f"{W}/work-items/w1/payload", json={"payload": {"a": 1}})
    responses.post(
        f"{W}/work-items",
        status=500,
        json={"error": {"code": "internal", "message": "boom"}},
    )
    client = make_client()
    recorded_sleeps(client)

    assert client.work_items.update_payload("w1", {"a": 1}) == {"a": 1}
    with pytest.raises(ServerError):
        client.work_items.create("p1", {"a": 1})
    assert [c.request.method for c in responses.calls] == ["PUT", "PUT", "POST"]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_refused_connection_is_retried_then_raises_connection_failed(method):
    client = ControlRoomClient(
        KEY,
        workspace_id=WS,
        base_url=f"http://127.0.0.1:{closed_port()}/api/v1",
        max_retries=2,
        backoff_base=0.001,
        timeout=2,
    )
    with pytest.raises(ConnectionFailed) as info:
        if method == "get":
            client.workspace.get()
        else:
            client.work_items.create("p1", {})
    # Refused before anything was sent: safe to retry even for POST.
    assert client.requests_made == 3
    assert info.value.transient
    assert info.value.status is None
    assert KEY not in str(info.value)


class TestPaginationEdges:
    @responses.activate
    def test_has_more_without_next_stops_with_a_warning(self, caplog):
        responses.get(f"{W}/process-runs", json=page([], has_more=True, next_url=None))
        client = make_client()
        with caplog.at_level(logging.WARNING, logger="robocorp_api"):
            assert list(client.process_runs.list()) == []
        assert "has_more=true but gave no next URL" in caplog.text
        assert client.requests_made == 1

    @responses.activate
    def test_a_repeating_next_raises_invalid_response(self):
        responses.get(
            f"{W}/work-items", json=page([], next_url=f"{W}/work-items?cursor=A")
        )
        responses.get(
            f"{W}/work-items", json=page([], next_url=f"{W}/work-items?cursor=B")
        )
        responses.get(
            f"{W}/work-items", json=page([], next_url=f"{W}/work-items?cursor=A")
        )
        client = make_client()
        with pytest.raises(InvalidResponse, match="pagination loop"):
            list(client.work_items.list())
        assert client.requests_made == 3

    @responses.activate
    def test_a_next_on_another_origin_is_never_followed(self):
        responses.get(
            f"{W}/work-items",
            json=page([], next_url="https://evil.example/steal?cursor=1"),
        )
        client = make_client()
        with pytest.raises(InvalidResponse, match="another origin"):
            list(client.work_items.list())
        assert [c.request.url for c in responses.calls] == [f"{W}/work-items"]

    @responses.activate
    def test_next_is_followed_verbatim(self):
        odd = f"{W}/work-items?limit=2&cursor=b64%3D%3D&x=%2F"
        responses.get(f"{W}/work-items", json=page([], next_url=odd))
        responses.get(f"{W}/work-items", json=page([]))
        client = make_client()
        list(client.work_items.list(limit=2))
        assert responses.calls[1].request.url == odd

    @responses.activate
    def test_a_page_not_matching_the_schema_is_invalid_response(self):
        responses.get(
            f"{W}/work-items",
            json={"data": [{"id": "w1"}], "has_more": False, "next": None},
        )
        client = make_client()
        with pytest.raises(InvalidResponse, match="does not match the schema") as info:
            list(client.work_items.list())
        assert info.value.transient
        assert info.value.status == 200


class TestErrorMapping:
    @responses.activate
    def test_the_error_text_carries_status_code_message_method_and_path_without_query(
        self,
    ):
        responses.get(
            f"{W}/process-runs",
            status=403,
            json={
                "error": {
                    "code": "forbidden",
                    "message": "Missing permission Processes.read_runs",
                }
            },
        )
        client = make_client()
        with pytest.raises(PermissionDenied) as info:
            list(client.process_runs.list(limit=5, state="failed"))
        err = info.value
        assert str(err) == (
            "403 forbidden: Missing permission Processes.read_runs (GET /workspaces/ws-1/process-runs)"
        )
        assert (err.status, err.code, err.method, err.path) == (
            403,
            "forbidden",
            "GET",
            "/workspaces/ws-1/process-runs",
        )
        assert not err.transient

    @responses.activate
    def test_a_non_json_error_body_still_maps_by_status(self):
        responses.get(
            f"{W}/processes",
            status=502,
            body="<html>Bad gateway</html>",
            content_type="text/html",
        )
        client = make_client(max_retries=0)
        with pytest.raises(ServerError) as info:
            client.processes.list()
        assert info.value.status == 502
        assert "Bad gateway" in info.value.message

    @responses.activate
    def test_a_redirect_is_not_followed(self):
        responses.get(
            f"{W}/processes",
            status=302,
            headers={"Location": "https://elsewhere.example/x"},
        )
        client = make_client()
        with pytest.raises(UnexpectedStatus) as info:
            client.processes.list()
        assert info.value.status == 302
        assert len(responses.calls) == 1

    @responses.activate
    def test_a_key_echoed_by_the_server_is_scrubbed(self):
        responses.get(
            f"{W}/processes",
            status=400,
            json={"error": {"code": "bad", "message": f"bad key {KEY}"}},
        )
        client = make_client()
        with pytest.raises(BadRequest) as info:
            client.processes.list()
        assert KEY not in str(info.value)
        assert "***" in str(info.value)


class TestHeaders:
    @responses.activate
    def test_requests_carry_the_workspace_key_and_the_timeout(self):
        responses.get(
            W,
            json={"id": WS, "name": "Main", "organization": {"id": "o", "name": "Org"}},
        )
        client = make_client(timeout=(1.5, 7))
        assert client.workspace.get().organization is not None
        call = responses.calls[0]
        assert call.request.headers["Authorization"] == f"RC-WSKEY {KEY}"
        sent_kwargs = call.request.req_kwargs  # type: ignore[attr-defined]
        assert sent_kwargs["timeout"] == (1.5, 7)

    @responses.activate
    def test_the_upload_goes_to_the_returned_url_without_authorization(self):
        upload_url = "https://bucket.example/upload"
        responses.post(
            f"{W}/work-items/w1/files/upload",
            json={
                "url": upload_url,
                "form_data": {"key": "abc", "policy": "p", "x-sig": "s"},
            },
        )
        responses.post(upload_url, status=204)
        session = requests.Session()
        session.headers["Authorization"] = "should-not-leak"
        client = make_client(session=session)

        client.work_items.upload_file("w1", file_name="a.txt", data=b"hello!")

        register, upload = responses.calls
        assert json.loads(register.request.body or b"") == {
            "file_name": "a.txt",
            "file_size": 6,
        }
        assert "Authorization" not in upload.request.headers
        body = upload.request.body
        assert isinstance(body, bytes)
        assert (
            body.index(b'name="key"')
            < body.index(b'name="policy"')
            < body.index(b'name="file"')
        )
        assert b'filename="a.txt"' in body
        assert b"hello!" in body

    @responses.activate
    def test_an_injected_session_is_used_and_left_open(self):
        responses.get(f"{W}/processes", json=page([]))
        session = requests.Session()
        with make_client(session=session) as client:
            assert client.session is session
            client.processes.list()
        assert session.adapters  # not closed by the client: still usable
        responses.get(f"{W}/processes", json=page([]))
        assert session.get(f"{W}/processes").status_code == 200


class TestArgumentChecks:
    def test_start_accepts_at_most_one_variant(self):
        client = make_client()
        with pytest.raises(ValueError, match="at most one"):
            client.process_runs.start("p1", payloads=[{}], with_inputs=True)
        assert client.requests_made == 0

    def test_batch_rejects_unknown_operations_and_empty_ids(self):
        client = make_client()
        with pytest.raises(ValueError, match="operation"):
            client.work_items.batch("explode", ["a"])  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="empty"):
            client.work_items.retry([])
        with pytest.raises(TypeError):
            client.work_items.retry("abc")
        assert client.requests_made == 0

    def test_ids_are_quoted_into_one_path_segment(self):
        with responses.RequestsMock() as rsps:
            rsps.get(
                f"{W}/work-items/..%2Fprocesses",
                status=404,
                json={"error": {"code": "nf", "message": "x"}},
            )
            client = make_client()
            with pytest.raises(Exception, match="404"):
                client.work_items.get("../processes")

    def test_the_constructor_rejects_bad_configuration(self):
        with pytest.raises(ValueError):
            ControlRoomClient("", workspace_id=WS, base_url=BASE)
        with pytest.raises(ValueError):
            ControlRoomClient(KEY, workspace_id="", base_url=BASE)
        with pytest.raises(ValueError):
            ControlRoomClient(
                KEY, workspace_id=WS, base_url="cloud.robocorp.com/api/v1"
            )
