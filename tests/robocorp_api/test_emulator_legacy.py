"""Replays the legacy Process API requests of API.md §2.2 exactly (methods, paths, queries, bodies, headers)."""

from __future__ import annotations

import requests

from robocorp_api.emulator import EmulatorServer

from .emu_helpers import error


def _session(emu: EmulatorServer) -> requests.Session:
    session = requests.Session()
    session.headers.clear()  # like rpaframework: only what §2.2 lists
    session.headers["Authorization"] = f"RC-WSKEY {emu.api_key}"
    return session


def test_legacy_wire_replay(emu):
    process = emu.store.add_process(
        "Legacy Orders", steps=["Read", "Post"], failure_rate=0.0, item_seconds=1
    )
    ws = f"{emu.legacy_base_url}/workspaces/{emu.workspace_id}"
    p = f"{ws}/processes/{process.id}"
    s = _session(emu)
    json_ct = {"Content-Type": "application/json"}

    processes = s.get(f"{ws}/processes").json()
    assert (
        processes["data"][0]["id"] == process.id
        and processes["data"][0]["name"] == "Legacy Orders"
    )

    # start (dict), start (no payload: the body is `[]`), start batch
    started = s.post(f"{p}/runs", data=b'{"a": 1}', headers=json_ct).json()
    assert set(started) == {"id", "workItemIds"} and len(started["workItemIds"]) == 1
    empty = s.post(f"{p}/runs", data=b"[]", headers=json_ct).json()
    item = s.get(f"{p}/work-items/{empty['workItemIds'][0]}?includeData=true").json()
    assert item["payload"] is None and item["state"] == "PENDING"
    batch = s.post(
        f"{p}/runs-batch", data=b'[{"a": 1}, {"b": 2}]', headers=json_ct
    ).json()
    assert len(batch) == 2 and len({b["id"] for b in batch}) == 2  # one run per element

    # create input item, then run-request (ids; no Content-Type), run-request (default; consumes the queue)
    created = s.post(
        f"{p}/work-items", data=b'{"payload": {"x": 1}}', headers=json_ct
    ).json()
    assert set(created) == {"id"}
    second = s.post(
        f"{p}/work-items", data=b'{"payload": {"x": 2}}', headers=json_ct
    ).json()
    by_ids = s.post(
        f"{p}/run-request",
        data=b'{"type": "workItemIds", "workItemIds": ["%s"]}' % created["id"].encode(),
    )
    assert by_ids.status_code == 200 and by_ids.json()["workItemIds"] == [created["id"]]
    default = s.post(f"{p}/run-request", data=b'{"type": "default"}').json()
    assert default["workItemIds"] == [second["id"]]

    # register file upload (no Content-Type), upload multipart without Authorization
    target = s.post(
        f"{p}/work-items/{created['id']}/files/upload",
        data=b'{"fileName": "f.txt", "fileSize": 6}',
    ).json()
    assert set(target) == {"url", "fields"}
    uploaded = requests.post(
        target["url"],
        data=target["fields"],
        files={"file": ("f.txt", b"hello\n")},
        timeout=5,
    )
    assert uploaded.status_code == 204

    emu.advance(300)

    item = s.get(f"{p}/work-items/{created['id']}?includeData=true").json()
    assert item["state"] == "COMPLETED" and item["payload"] == {"x": 1}
    assert item["files"] == [
        {"fileId": item["files"][0]["fileId"], "fileName": "f.txt", "fileSize": 6}
    ]
    assert {
        "stateTs",
        "createTs",
        "processRunId",
        "activityRunId",
        "processName",
        "workspaceId",
    } <= set(item)
    without = s.get(f"{p}/work-items/{created['id']}?includeData=false").json()
    assert "payload" not in without
    listed = s.get(f"{p}/work-items?includeData=true").json()
    assert len(listed["data"]) == 6 and all("payload" in row for row in listed["data"])
    run_id = started["id"]
    run_items = s.get(
        f"{p}/runs/{run_id}/work-items?includeData=false&sortBy=createTs&sortOrder=desc"
    ).json()
    assert [row["id"] for row in run_items["data"]] == started["workItemIds"]

    runs = s.get(f"{p}/runs?limit=5").json()
    assert len(runs["data"]) == 5 and {r["state"] for r in runs["data"]} == {"COMPL"}
    pruns = s.get(f"{ws}/pruns?limit=3").json()
    assert isinstance(pruns, list) and len(pruns) == 3  # bare array
    run = s.get(f"{p}/runs/{run_id}").json()
    assert run["state"] == "COMPL" and run["workItemStats"] == {
        "totalCount": 1,
        "failedCount": 0,
        "succeededCount": 1,
    }
    assert (
        all(set(rr) == {"id"} for rr in run["robotRuns"]) and len(run["robotRuns"]) == 2
    )
    embedded = s.get(f"{p}/runs/{run_id}?embed=robotRuns").json()
    assert embedded["robotRuns"][0]["activityName"] in ("Read", "Post")

    robot_run = run["robotRuns"][0]["id"]
    status = s.get(f"{p}/runs/{run_id}/robotRuns/{robot_run}").json()
    assert status["id"] == robot_run and status["state"] == "COMPL"
    artifacts = s.get(f"{p}/runs/{run_id}/robotRuns/{robot_run}/artifacts").json()
    assert isinstance(artifacts, list) and {"id", "fileName", "fileSize"} == set(
        artifacts[0]
    )
    log = next(a for a in artifacts if a["fileName"] == "log.html")
    link = s.get(
        f"{p}/runs/{run_id}/robotRuns/{robot_run}/artifacts/{log['id']}/log.html"
    )
    assert link.headers["Content-Type"].startswith("application/json")
    url = link.json()
    assert isinstance(url, str) and url.startswith(
        "http://"
    )  # the link is a JSON string
    assert requests.get(url, timeout=5).content.startswith(b"<!doctype html>")
    messages = s.get(f"{p}/runs/{run_id}/robotRuns/{robot_run}/messages").json()
    assert (
        isinstance(messages, list)
        and messages[0]["seqNo"] == 0
        and messages[0]["message"]
    )
    events = s.get(f"{p}/runs/{run_id}/robotRuns/{robot_run}/events").json()
    assert {"seqNo", "timeStamp", "eventType", "data"} == set(events[0])


def test_legacy_failed_items_and_retry(emu):
    process = emu.store.add_process("Legacy Failing", failure_rate=1.0, item_seconds=1)
    p = f"{emu.legacy_base_url}/workspaces/{emu.workspace_id}/processes/{process.id}"
    s = _session(emu)
    run = s.post(
        f"{p}/runs", data=b'{"a": 1}', headers={"Content-Type": "application/json"}
    ).json()
    emu.advance(120)
    item = s.get(f"{p}/work-items/{run['workItemIds'][0]}?includeData=true").json()
    assert item["state"] == "FAILED" and item["exception"]["type"] in (
        "BUSINESS",
        "APPLICATION",
        "ORCHESTRATOR",
    )
    assert s.get(f"{p}/runs/{run['id']}").json()["state"] == "PENDING"
    retried = s.post(f"{p}/work-items/{item['id']}/retry")
    assert retried.status_code == 200 and retried.json()["state"] == "PENDING"
    assert (
        "PENDING" in error(s.post(f"{p}/work-items/{item['id']}/retry"), 409)["message"]
    )


def test_legacy_errors(emu):
    process = emu.store.add_process("Legacy Errors")
    ws = f"{emu.legacy_base_url}/workspaces/{emu.workspace_id}"
    s = _session(emu)
    error(requests.get(f"{ws}/processes", timeout=5), 401)
    error(s.get(f"{ws}/processes/nope/runs"), 404)
    error(s.post(f"{ws}/processes/{process.id}/runs-batch", data=b"{}"), 400)
    error(
        s.post(f"{ws}/processes/{process.id}/run-request", data=b'{"type": "weird"}'),
        400,
    )
    error(s.post(f"{ws}/processes/{process.id}/runs", data=b"{oops"), 400)
    limited = emu.create_key(["read_runs"])
    error(
        requests.get(
            f"{ws}/processes",
            headers={"Authorization": f"RC-WSKEY {limited}"},
            timeout=5,
        ),
        403,
    )
