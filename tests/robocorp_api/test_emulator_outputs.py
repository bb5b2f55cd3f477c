"""Console messages, events, artifacts (bytes downloadable without auth) and file uploads."""

from __future__ import annotations

import requests

from robocorp_api.emulator import EmulatorServer
from robocorp_api.emulator.store import Run

from .emu_helpers import Api, error


def _finished_run(emu: EmulatorServer, *, failure_rate: float) -> Run:
    process = emu.store.add_process(
        "Outputs", failure_rate=failure_rate, item_seconds=1
    )
    run = emu.store.create_run(process.id, payloads=[{"n": i} for i in range(6)])
    assert run is not None
    emu.advance(120)
    return run


def test_console_events_and_artifacts(emu):
    run = _finished_run(emu, failure_rate=1.0)
    api = Api(emu)
    step_run = api.collect("step-runs", process_run_id=run.id)[0]
    messages = api.collect(f"step-runs/{step_run['id']}/console-messages", limit=3)
    assert len(messages) > 6 and all(m["timestamp"].endswith("Z") for m in messages)
    assert any("ERROR" in m["message"] for m in messages)
    events = api.collect(f"step-runs/{step_run['id']}/events")
    kinds = [e["event_type"] for e in events]
    assert kinds[0] == "robot_run_started" and kinds[-1] == "robot_run_finished"
    assert (
        kinds.count("work_item_started") == 6 and kinds.count("work_item_failed") == 6
    )
    artifacts = api.collect(f"step-runs/{step_run['id']}/artifacts")
    names = {a["name"]: a for a in artifacts}
    assert {"output.log", "log.html", "items.csv", "failure-screenshot.png"} <= set(
        names
    )
    for name, artifact in names.items():
        detail = api.get(
            f"step-runs/{step_run['id']}/artifacts/{artifact['id']}"
        ).json()
        assert detail["url"].startswith(emu.url)
        blob = requests.get(
            detail["url"], timeout=5
        )  # presigned-style: no Authorization header
        assert (
            blob.status_code == 200
            and len(blob.content) == artifact["size"] == detail["size"]
        )
        if name == "failure-screenshot.png":
            assert (
                blob.content.startswith(b"\x89PNG\r\n\x1a\n")
                and blob.headers["Content-Type"] == "image/png"
            )
        if name == "output.log":
            assert b"Processing work item" in blob.content
    error(api.get(f"step-runs/{step_run['id']}/artifacts/nope"), 404)
    error(api.get("step-runs/nope/events"), 404)
    assert api.get(f"step-runs/{step_run['id']}").json()["id"] == step_run["id"]


def test_seeded_step_runs_have_derived_outputs(emulator_factory):
    emu = emulator_factory(seed="demo")
    api = Api(emu)
    run = next(r for r in api.collect("process-runs", state="unresolved", limit=50))
    step_run = api.collect("step-runs", process_run_id=run["id"])[0]
    assert api.collect(f"step-runs/{step_run['id']}/console-messages")
    artifact = api.collect(f"step-runs/{step_run['id']}/artifacts")[0]
    url = api.get(f"step-runs/{step_run['id']}/artifacts/{artifact['id']}").json()[
        "url"
    ]
    assert len(requests.get(url, timeout=5).content) == artifact["size"]


def _upload(
    url: str, fields: dict[str, str], name: str, data: bytes
) -> requests.Response:
    return requests.post(url, data=fields, files={"file": (name, data)}, timeout=10)


def test_v1_upload_end_to_end_binary(emu):
    api = Api(emu)
    process = emu.store.add_process("Uploads")
    item = api.post("work-items", {"process": {"id": process.id}, "payload": {}}).json()
    data = bytes(range(256)) * 40 + b"\r\n--tricky\r\n" + b"\x00" * 10
    target = api.post(
        f"work-items/{item['id']}/files/upload",
        {"file_name": "scan.bin", "file_size": len(data)},
    ).json()
    assert set(target) == {"url", "form_data"} and target["url"].startswith(emu.url)
    answer = _upload(target["url"], target["form_data"], "scan.bin", data)
    assert answer.status_code == 204, answer.text
    files = api.get(f"work-items/{item['id']}").json()["files"]
    assert [(f["name"], f["size"]) for f in files] == [("scan.bin", len(data))]
    assert emu.store.blobs[files[0]["id"]][1] == data
    # the token is single use; unknown tokens and oversize bodies are 4xx JSON
    error(_upload(target["url"], target["form_data"], "scan.bin", data), 403)
    error(_upload(target["url"], {"x-emulator-token": "forged"}, "x", b"1"), 403)
    small = api.post(
        f"work-items/{item['id']}/files/upload", {"file_name": "s.txt", "file_size": 3}
    ).json()
    error(_upload(small["url"], small["form_data"], "s.txt", b"too long"), 400)
    error(requests.post(small["url"], data=b"not multipart", timeout=5), 400)
    error(api.post(f"work-items/{item['id']}/files/upload", {"file_name": "x"}), 400)
    error(
        api.post(
            f"work-items/{item['id']}/files/upload",
            {"file_name": "x", "file_size": 10**12},
        ),
        400,
    )
    error(
        api.post("work-items/nope/files/upload", {"file_name": "x", "file_size": 1}),
        404,
    )
