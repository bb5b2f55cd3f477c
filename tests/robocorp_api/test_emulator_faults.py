"""Fault injection, each kind, switchable at run time over HTTP and in Python; stats."""

from __future__ import annotations

import contextlib
import email.utils
import socket
import time
from typing import Any

import pytest
import requests

from robocorp_api.emulator import EmulatorServer

from .emu_helpers import Api, error


def _faults(emu: EmulatorServer, spec: dict[str, Any]) -> list[dict[str, Any]]:
    answer = requests.post(f"{emu.url}/__emulator__/faults", json=spec, timeout=5)
    assert answer.status_code == 200, answer.text
    rules: list[dict[str, Any]] = answer.json()["data"]
    return rules


def test_error_count_then_ok_and_rate_is_seeded(emu):
    api = Api(emu)
    _faults(
        emu,
        {
            "kind": "error",
            "path": "/work-items$",
            "status": 502,
            "times": 2,
            "method": "GET",
        },
    )
    assert [api.get("work-items").status_code for _ in range(3)] == [502, 502, 200]
    assert api.get("processes").status_code == 200
    requests.delete(f"{emu.url}/__emulator__/faults", timeout=5)
    patterns = []
    for _ in range(2):
        emu.faults.clear()
        emu.faults.reseed(7)
        emu.faults.add(kind="error", path="/processes", status=503, rate=0.5)
        patterns.append([api.get("processes").status_code for _ in range(20)])
    assert patterns[0] == patterns[1] and {200, 503} == set(patterns[0])


def test_rate_limit_with_seconds_and_http_date(emu):
    api = Api(emu)
    emu.faults.add(kind="rate_limit", path="/processes", retry_after="2", times=1)
    answer = api.get("processes")
    assert (
        error(answer, 429)["code"] == "rate_limited"
        and answer.headers["Retry-After"] == "2"
    )
    date = email.utils.formatdate(time.time() + 120, usegmt=True)
    emu.faults.add(kind="rate_limit", path="/processes", retry_after=date, times=1)
    assert api.get("processes").headers["Retry-After"] == date
    assert api.get("processes").status_code == 200


def test_latency_malformed_drop_reset(emu):
    api = Api(emu)
    emu.faults.add(kind="latency", path="/processes", latency_ms=300, times=1)
    started = time.perf_counter()
    assert api.get("processes").status_code == 200
    assert time.perf_counter() - started >= 0.3
    emu.faults.add(kind="malformed", path="/processes", times=1)
    garbled = api.get("processes")
    assert garbled.status_code == 200
    with pytest.raises(ValueError):
        garbled.json()
    emu.faults.add(kind="drop", path="/processes", times=1)
    with pytest.raises(requests.ConnectionError):
        requests.get(api.url("processes"), headers=api.session.headers, timeout=5)
    emu.faults.add(kind="reset_mid_body", path="/processes", times=1)
    with pytest.raises(
        (requests.ConnectionError, requests.exceptions.ChunkedEncodingError)
    ):
        requests.get(api.url("processes"), headers=api.session.headers, timeout=5)
    assert api.get("processes").status_code == 200


def test_after_apply_error_applies_the_post(emu):
    api = Api(emu)
    process = emu.store.add_process("Worst Case")
    emu.faults.add(
        kind="error",
        path="/work-items$",
        method="POST",
        status=502,
        times=1,
        after_apply=True,
    )
    error(
        api.post("work-items", {"process": {"id": process.id}, "payload": {"x": 1}}),
        502,
    )
    assert (
        len(api.collect("work-items", process_id=process.id)) == 1
    )  # applied, then failed
    emu.faults.add(
        kind="drop", path="/work-items$", method="POST", times=1, after_apply=True
    )
    with pytest.raises(requests.ConnectionError):
        requests.post(
            api.url("work-items"),
            json={"process": {"id": process.id}, "payload": 2},
            headers=api.session.headers,
            timeout=5,
        )
    assert len(api.collect("work-items", process_id=process.id)) == 2


def test_faults_admin_validation_and_never_on_admin(emu):
    error(
        requests.post(
            f"{emu.url}/__emulator__/faults", json={"kind": "explode"}, timeout=5
        ),
        400,
    )
    error(
        requests.post(
            f"{emu.url}/__emulator__/faults",
            json={"kind": "error", "path": "("},
            timeout=5,
        ),
        400,
    )
    error(
        requests.post(
            f"{emu.url}/__emulator__/faults",
            json={"kind": "latency", "after_apply": True},
            timeout=5,
        ),
        400,
    )
    rules = _faults(emu, {"kind": "error", "path": ".*", "status": 500})
    assert requests.get(f"{emu.url}/__emulator__/info", timeout=5).status_code == 200
    assert (
        requests.get(f"{emu.url}/__emulator__/faults", timeout=5).json()["data"][0][
            "id"
        ]
        == rules[0]["id"]
    )
    assert (
        requests.delete(
            f"{emu.url}/__emulator__/faults/{rules[0]['id']}", timeout=5
        ).status_code
        == 200
    )
    assert Api(emu).get("processes").status_code == 200


def test_stats_count_per_route_and_reset(emu):
    api = Api(emu)
    requests.delete(f"{emu.url}/__emulator__/stats", timeout=5)
    for _ in range(3):
        api.get("work-items", limit=1)
    api.get("processes")
    stats = requests.get(f"{emu.url}/__emulator__/stats", timeout=5).json()
    assert stats["total"] == 4
    assert stats["by_route"]["GET /api/v1/workspaces/{workspace_id}/work-items"] == 3
    assert emu.stats.count("GET", "/api/v1/workspaces/{workspace_id}/processes") == 1
    emu.stats.reset()
    assert emu.stats.total == 0


def test_drop_closes_socket_without_answer(emu):
    emu.faults.add(kind="drop", path="/processes", times=1)
    with socket.create_connection(("127.0.0.1", emu.port), timeout=5) as sock:
        sock.sendall(
            f"GET /api/v1/workspaces/{emu.workspace_id}/processes HTTP/1.1\r\nHost: x\r\n\r\n".encode()
        )
        with contextlib.suppress(ConnectionResetError):
            assert sock.recv(100) == b""


def test_repeat_next_points_a_page_back_at_itself(emu):
    api = Api(emu)
    proc = emu.store.add_process("P", steps=["Read"])
    emu.store.create_run(proc.id, payloads=[{"n": n} for n in range(3)])
    first = api.get("work-items", limit=1).json()
    assert first["has_more"] and first["next"]
    emu.faults.add(kind="repeat_next", path="/work-items$", method="GET", times=2)
    second = api.session.get(first["next"], timeout=10)
    assert second.status_code == 200
    page = second.json()
    assert page["next"] == first["next"]  # the token just followed, handed back again
    assert page["has_more"] and len(page["data"]) == 1
    # The page itself is the real one: the same rows as without the fault.
    emu.faults.clear()
    assert api.session.get(first["next"], timeout=10).json()["data"] == page["data"]
    # A page without `next` is answered unchanged (nothing to repeat).
    emu.faults.add(kind="repeat_next", path="/work-items$", method="GET", times=1)
    whole = api.get("work-items", limit=10).json()
    assert whole["next"] is None and len(whole["data"]) == 3
