"""Retry, backoff and typed errors driven by the emulator's fault injection over real HTTP (API.md §5;
ECOSYSTEM.md §A6; STYLE.md §6).

What reached the server is asserted through the emulator's request counters, not only through
the client's own ``requests_made``.
"""

from __future__ import annotations

import email.utils
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from robocorp_api import (
    AmbiguousResult,
    AuthenticationFailed,
    BadRequest,
    Conflict,
    ControlRoomClient,
    InvalidResponse,
    NotFound,
    PermissionDenied,
    RateLimited,
    ReadTimedOut,
    ServerError,
)
from robocorp_api.emulator import EmulatorServer

pytestmark = pytest.mark.emulator

W = "/api/v1/workspaces/{workspace_id}"


def make_client(
    emu: EmulatorServer, key: str | None = None, **kwargs: Any
) -> ControlRoomClient:
    kwargs.setdefault("backoff_base", 0.01)
    kwargs.setdefault("backoff_max", 0.05)
    kwargs.setdefault("max_retries", 3)
    return ControlRoomClient(
        key or emu.api_key,
        workspace_id=emu.workspace_id,
        base_url=emu.api_base_url,
        **kwargs,
    )


@pytest.fixture
def client(emu: EmulatorServer) -> Iterator[ControlRoomClient]:
    with make_client(emu) as c:
        yield c


def add_process(emu: EmulatorServer) -> str:
    return str(emu.store.add_process(f"Process {uuid.uuid4().hex[:8]}").id)


def item_count(emu: EmulatorServer) -> int:
    with emu.store.lock:
        return len(emu.store.items)


class TestTypedErrors:
    def test_400(self, emu: EmulatorServer, client: ControlRoomClient) -> None:
        with pytest.raises(BadRequest) as info:
            list(client.work_items.list(state="exploded"))
        err = info.value
        assert (err.status, err.method, err.path) == (
            400,
            "GET",
            f"/workspaces/{emu.workspace_id}/work-items",
        )
        assert err.code and err.message
        assert str(err).startswith(f"400 {err.code}: ")
        assert not err.transient
        assert client.requests_made == 1

    def test_401(self, emu: EmulatorServer) -> None:
        with (
            make_client(emu, key="not-a-real-key") as client,
            pytest.raises(AuthenticationFailed) as info,
        ):
            client.processes.list()
        assert info.value.status == 401
        assert client.requests_made == 1

    def test_403(self, emu: EmulatorServer) -> None:
        key = emu.create_key(["read_work_items"])
        with (
            make_client(emu, key=key) as client,
            pytest.raises(PermissionDenied) as info,
        ):
            list(client.process_runs.list())
        assert info.value.status == 403
        assert "read_runs" in info.value.message
        assert client.requests_made == 1

    def test_404(self, client: ControlRoomClient) -> None:
        with pytest.raises(NotFound) as info:
            client.process_runs.get("does-not-exist")
        assert info.value.status == 404
        assert client.requests_made == 1

    def test_409(self, emu: EmulatorServer, client: ControlRoomClient) -> None:
        started = client.process_runs.start(add_process(emu), payloads=[{}])
        assert started.id
        with pytest.raises(Conflict) as info:
            client.process_runs.delete(started.id)
        assert info.value.status == 409
        assert client.requests_made == 2


class TestRetries:
    def test_a_5xx_burst_then_ok_succeeds_after_retries(
        self, emu: EmulatorServer, client: ControlRoomClient
    ) -> None:
        emu.faults.add(kind="error", path="/processes$", status=503, times=2)
        emu.faults.add(kind="error", path="/processes$", status=500, times=1)
        emu.stats.reset()
        assert client.processes.list() == []
        assert client.requests_made == 4
        assert emu.stats.count("GET", W + "/processes") == 4

    def test_a_5xx_that_outlasts_the_retries_raises_server_error(
        self, emu: EmulatorServer, client: ControlRoomClient
    ) -> None:
        emu.faults.add(kind="error", path="/processes$", status=502)
        with pytest.raises(ServerError) as info:
            client.processes.list()
        assert info.value.status == 502
        assert info.value.transient
        assert client.requests_made == 4  # 1 + max_retries

    def test_a_post_5xx_is_not_resent(
        self, emu: EmulatorServer, client: ControlRoomClient
    ) -> None:
        process_id = add_process(emu)
        emu.faults.add(
            kind="error",
            path="/work-items$",
            method="POST",
            status=500,
            times=1,
            after_apply=True,
        )
        emu.stats.reset()
        before = item_count(emu)
        with pytest.raises(ServerError):
            client.work_items.create(process_id, {"x": 1})
        assert emu.stats.count("POST", W + "/work-items") == 1
        assert client.requests_made == 1
        assert (
            item_count(emu) == before + 1
        )  # it WAS applied: re-sending would have duplicated it

    def test_429_retry_after_seconds_is_honoured(
        self, emu: EmulatorServer, client: ControlRoomClient
    ) -> None:
        emu.faults.add(kind="rate_limit", path="/webhooks$", retry_after="1", times=1)
        started = time.monotonic()
        assert client.webhooks.list() == []
        assert time.monotonic() - started >= 1.0
        assert client.requests_made == 2

    def test_429_retry_after_http_date_is_honoured(
        self, emu: EmulatorServer, client: ControlRoomClient
    ) -> None:
        when = email.utils.format_datetime(
            datetime.now(UTC) + timedelta(seconds=2), usegmt=True
        )
        emu.faults.add(kind="rate_limit", path="/webhooks$", retry_after=when, times=1)
        started = time.monotonic()
        assert client.webhooks.list() == []
        # the date has one-second resolution, so at least 1 s of the 2 s remains
        assert time.monotonic() - started >= 1.0
        assert client.requests_made == 2

    def test_429_on_a_post_is_retried_because_nothing_was_done(
        self, emu: EmulatorServer, client: ControlRoomClient
    ) -> None:
        process_id = add_process(emu)
        emu.faults.add(
            kind="rate_limit",
            path="/work-items$",
            method="POST",
            retry_after="0",
            times=2,
        )
        emu.stats.reset()
        before = item_count(emu)
        client.work_items.create(process_id, {"x": 1})
        assert emu.stats.count("POST", W + "/work-items") == 3
        assert item_count(emu) == before + 1

    def test_a_long_retry_after_raises_rate_limited_at_once(
        self, emu: EmulatorServer, client: ControlRoomClient
    ) -> None:
        emu.faults.add(kind="rate_limit", path="/processes$", retry_after="120")
        started = time.monotonic()
        with pytest.raises(RateLimited) as info:
            client.processes.list()
        assert info.value.retry_after == 120
        assert info.value.transient
        assert time.monotonic() - started < 1.0
        assert client.requests_made == 1

    def test_a_dropped_connection_is_retried_for_get(
        self, emu: EmulatorServer, client: ControlRoomClient
    ) -> None:
        emu.faults.add(kind="drop", path="/webhooks$", times=2)
        assert client.webhooks.list() == []
        assert client.requests_made == 3

    def test_a_reset_mid_body_is_retried_for_get(
        self, emu: EmulatorServer, client: ControlRoomClient
    ) -> None:
        emu.faults.add(kind="reset_mid_body", path="/work-items$", times=1)
        assert list(client.work_items.list()) == []
        assert client.requests_made == 2

    def test_a_dropped_connection_on_post_is_ambiguous_and_not_resent(
        self, emu: EmulatorServer, client: ControlRoomClient
    ) -> None:
        process_id = add_process(emu)
        emu.faults.add(
            kind="drop", path="/process-runs$", method="POST", after_apply=True, times=1
        )
        emu.stats.reset()
        with pytest.raises(AmbiguousResult) as info:
            client.process_runs.start(process_id, payloads=[{"n": 1}])
        assert not info.value.transient
        assert emu.stats.count("POST", W + "/processes/{process_id}/process-runs") == 1
        assert client.requests_made == 1
        # the run was created although no answer came: the caller must re-read state
        assert len(list(client.process_runs.list(process_id=process_id))) == 1

    def test_a_read_timeout_is_retried_for_get(self, emu: EmulatorServer) -> None:
        emu.faults.add(kind="latency", path="/processes$", latency_ms=600, times=2)
        with make_client(emu, timeout=(2, 0.3)) as client:
            assert client.processes.list() == []
            assert client.requests_made == 3

    def test_a_read_timeout_that_persists_raises_read_timed_out(
        self, emu: EmulatorServer
    ) -> None:
        emu.faults.add(kind="latency", path="/processes$", latency_ms=500)
        with (
            make_client(emu, timeout=(2, 0.2), max_retries=1) as client,
            pytest.raises(ReadTimedOut) as info,
        ):
            client.processes.list()
        assert info.value.transient
        assert client.requests_made == 2

    def test_a_read_timeout_on_post_is_ambiguous(self, emu: EmulatorServer) -> None:
        emu.faults.add(kind="latency", path="/work-items/batch$", latency_ms=600)
        emu.stats.reset()
        with (
            make_client(emu, timeout=(2, 0.2)) as client,
            pytest.raises(AmbiguousResult),
        ):
            client.work_items.retry(["some-id"])
        assert client.requests_made == 1
        time.sleep(0.6)  # let the slow request finish on the server before counting
        assert emu.stats.count("POST", W + "/work-items/batch") == 1

    def test_malformed_json_raises_invalid_response(
        self, emu: EmulatorServer, client: ControlRoomClient
    ) -> None:
        emu.faults.add(kind="malformed", path="/process-runs$")
        with pytest.raises(InvalidResponse, match="not valid JSON") as info:
            list(client.process_runs.list())
        assert info.value.status == 200
        assert info.value.transient
        assert client.requests_made == 1

    def test_other_4xx_are_never_retried(
        self, emu: EmulatorServer, client: ControlRoomClient
    ) -> None:
        emu.faults.add(kind="error", path="/processes$", status=404)
        with pytest.raises(NotFound):
            client.processes.list()
        assert client.requests_made == 1
