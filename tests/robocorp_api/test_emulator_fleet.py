"""Workers, worker groups, link tokens, task packages and assets: contract, robots, client.

The contract part validates every answer against openapi-v1.json with the Checker of
test_emulator_contract (permitted call, the same call without permission → 403, unknown ids → 404,
bad bodies → 400) and asserts every operation of these families was exercised.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
import requests

from robocorp_api import (
    AssetUploadFailed,
    BadRequest,
    ControlRoomClient,
    NotFound,
    PermissionDenied,
)
from robocorp_api.emulator import EmulatorServer
from robocorp_api.resources import assets as assets_module

from .emu_helpers import Api
from .test_emulator_contract import NO_SUCH, Checker, spec  # noqa: F401 - the spec fixture

pytestmark = pytest.mark.emulator
FAMILIES = ("/workers", "/worker-groups", "/task-packages", "/assets")
W = "/workspaces/{workspace_id}"
LATER = (datetime.now(UTC) + timedelta(days=7)).isoformat()


def _fleet_operations(document: dict) -> set[tuple[str, str]]:
    ops: set[tuple[str, str]] = set()
    for path, methods in document["paths"].items():
        rest = path.removeprefix(W)
        if any(rest.startswith(f) for f in FAMILIES):
            ops.update(
                (m.upper(), path)
                for m in methods
                if m in ("get", "post", "put", "delete")
            )
    return ops


def test_every_fleet_operation_matches_the_openapi_document(spec, emu):  # noqa: F811
    api = Api(emu)
    nobody = Api(emu, emu.create_key([]))
    c = Checker(spec, emu)

    def both(method: str, template: str, path: str, body=None, status: int = 200):
        calls = {
            "GET": lambda a: a.get(path),
            "POST": lambda a: a.post(path, body),
            "PUT": lambda a: a.put(path, body),
            "DELETE": lambda a: a.delete(path),
        }
        c.check(method, W + template, calls[method](nobody), 403)
        return c.check(method, W + template, calls[method](api), status)

    # workers
    workers = both("GET", "/workers", "workers")["data"]
    assert {w["name"] for w in workers} == {"worker-eu1-01", "worker-eu1-02"}
    assert {w["state"] for w in workers} == {"idle"}
    worker = workers[0]
    both("GET", "/workers/{worker_id}", f"workers/{worker['id']}")
    c.check("GET", W + "/workers/{worker_id}", api.get(f"workers/{NO_SUCH}"), 404)
    renamed = both(
        "PUT", "/workers/{worker_id}", f"workers/{worker['id']}", {"name": "robot-a"}
    )
    assert renamed["name"] == "robot-a"
    c.check(
        "PUT",
        W + "/workers/{worker_id}",
        api.put(f"workers/{worker['id']}", {"name": ""}),
        400,
    )
    token = both(
        "POST", "/workers/link-tokens", "workers/link-tokens", {"expires_at": LATER}
    )
    assert token["link_token"]
    c.check(
        "POST",
        W + "/workers/link-tokens",
        api.post("workers/link-tokens", {"expires_at": "soon"}),
        400,
    )

    # worker groups and their link tokens
    group = both("POST", "/worker-groups", "worker-groups", {"name": "SAP robots"})
    c.check("POST", W + "/worker-groups", api.post("worker-groups", {}), 400)
    assert len(both("GET", "/worker-groups", "worker-groups")["data"]) == 2
    gid = group["id"]
    both("GET", "/worker-groups/{worker_group_id}", f"worker-groups/{gid}")
    c.check(
        "GET",
        W + "/worker-groups/{worker_group_id}",
        api.get(f"worker-groups/{NO_SUCH}"),
        404,
    )
    both(
        "PUT",
        "/worker-groups/{worker_group_id}",
        f"worker-groups/{gid}",
        {"name": "SAP"},
    )
    c.check(
        "PUT",
        W + "/worker-groups/{worker_group_id}",
        api.put(f"worker-groups/{NO_SUCH}", {"name": "x"}),
        404,
    )
    listing = both(
        "PUT",
        "/worker-groups/{worker_group_id}/workers",
        f"worker-groups/{gid}/workers",
        {"worker": {"id": worker["id"]}},
    )
    assert {g["name"] for g in listing["worker_groups"]} == {"Default", "SAP"}
    c.check(
        "PUT",
        W + "/worker-groups/{worker_group_id}/workers",
        api.put(f"worker-groups/{gid}/workers", {"worker": {"id": NO_SUCH}}),
        404,
    )
    listing = both(
        "DELETE",
        "/worker-groups/{worker_group_id}/workers/{worker_id}",
        f"worker-groups/{gid}/workers/{worker['id']}",
    )
    assert [g["name"] for g in listing["worker_groups"]] == ["Default"]
    c.check(
        "DELETE",
        W + "/worker-groups/{worker_group_id}/workers/{worker_id}",
        api.delete(f"worker-groups/{gid}/workers/{worker['id']}"),
        404,
    )
    tokens = f"worker-groups/{gid}/link-tokens"
    made = both(
        "POST",
        "/worker-groups/{worker_group_id}/link-tokens",
        tokens,
        {"name": "laptop", "expires_at": None},
    )
    assert made["link_token"] and made["worker_group"] == {"id": gid}
    c.check(
        "POST",
        W + "/worker-groups/{worker_group_id}/link-tokens",
        api.post(tokens, {"name": "x"}),
        400,
    )
    listed = both("GET", "/worker-groups/{worker_group_id}/link-tokens", tokens)["data"]
    assert [t["id"] for t in listed] == [made["id"]] and "link_token" not in listed[0]
    c.check(
        "GET",
        W + "/worker-groups/{worker_group_id}/link-tokens",
        api.get(f"worker-groups/{NO_SUCH}/link-tokens"),
        404,
    )
    one = W + "/worker-groups/{worker_group_id}/link-tokens/{link_token_id}"
    assert "link_token" not in both(
        "GET", one.removeprefix(W), f"{tokens}/{made['id']}"
    )
    updated = both(
        "PUT",
        one.removeprefix(W),
        f"{tokens}/{made['id']}",
        {"name": "desk", "expires_at": LATER},
    )
    assert updated["name"] == "desk" and updated["expires_at"]
    c.check(
        "PUT",
        one,
        api.put(f"{tokens}/{made['id']}", {"name": "desk", "expires_at": 5}),
        400,
    )
    c.check("GET", one, api.get(f"{tokens}/{NO_SUCH}"), 404)
    c.check("DELETE", one, api.delete(f"{tokens}/{NO_SUCH}"), 404)

    # a worker links itself with the token, then the group and token go
    linked = requests.post(
        f"{emu.url}/__emulator__/workers",
        json={"link_token": made["link_token"], "name": "laptop-1"},
        timeout=5,
    ).json()
    assert (
        linked["worker_groups"] == [{"id": gid, "name": "SAP"}]
        and linked["state"] == "idle"
    )
    both("DELETE", one.removeprefix(W), f"{tokens}/{made['id']}")
    both("DELETE", "/worker-groups/{worker_group_id}", f"worker-groups/{gid}")
    c.check(
        "DELETE",
        W + "/worker-groups/{worker_group_id}",
        api.delete(f"worker-groups/{gid}"),
        404,
    )
    both("DELETE", "/workers/{worker_id}", f"workers/{linked['id']}")
    c.check(
        "DELETE", W + "/workers/{worker_id}", api.delete(f"workers/{linked['id']}"), 404
    )

    # task packages
    package = both("POST", "/task-packages", "task-packages", {"name": "invoice-bot"})
    c.check("POST", W + "/task-packages", api.post("task-packages", {"name": 3}), 400)
    pid = package["id"]
    target = both(
        "GET", "/task-packages/{task_package_id}/upload", f"task-packages/{pid}/upload"
    )
    sent = requests.post(
        target["url"],
        data=target["form_data"],
        files={"file": ("p.zip", b"PK\x03\x04bundle")},
        timeout=5,
    )
    assert sent.status_code == 204
    link = both(
        "GET",
        "/task-packages/{task_package_id}/download",
        f"task-packages/{pid}/download",
    )
    assert requests.get(link["url"], timeout=5).content == b"PK\x03\x04bundle"
    both("DELETE", "/task-packages/{task_package_id}", f"task-packages/{pid}")
    c.check(
        "DELETE",
        W + "/task-packages/{task_package_id}",
        api.delete(f"task-packages/{pid}"),
        404,
    )

    # assets: inline JSON, a raw PUT upload, a failed upload, name: addressing
    asset = both("POST", "/assets", "assets", {"name": "config"})
    assert asset["payload"] == {"type": "empty"}
    c.check("POST", W + "/assets", api.post("assets", {"name": "config"}), 400)
    aid = asset["id"]
    uploads = f"assets/{aid}/uploads"
    inline = {
        "content_type": "application/json",
        "data": base64.b64encode(b'{"rate": 3}').decode(),
    }
    done = both("POST", "/assets/{asset_id}/uploads", uploads, inline)
    assert done["status"] == "completed"
    bad = {
        "content_type": "application/json",
        "data": base64.b64encode(b"{nope").decode(),
    }
    c.check("POST", W + "/assets/{asset_id}/uploads", api.post(uploads, bad), 400)
    c.check(
        "POST",
        W + "/assets/{asset_id}/uploads",
        api.post(f"assets/{NO_SUCH}/uploads", inline),
        404,
    )
    pending = c.check(
        "POST",
        W + "/assets/{asset_id}/uploads",
        api.post(uploads, {"content_type": "text/plain"}),
        200,
    )
    assert (
        requests.put(pending["upload_url"], data=b"hello", timeout=5).status_code == 200
    )
    status = both(
        "GET", "/assets/{asset_id}/uploads/{upload_id}", f"{uploads}/{pending['id']}"
    )
    assert status["status"] == "completed"
    failing = api.post(uploads, {"content_type": "application/json"}).json()
    requests.put(failing["upload_url"], data=b"{broken", timeout=5)
    failed = c.check(
        "GET",
        W + "/assets/{asset_id}/uploads/{upload_id}",
        api.get(f"{uploads}/{failing['id']}"),
        200,
    )
    assert failed["status"] == "failed" and "not valid JSON" in failed["reason"]
    c.check(
        "GET",
        W + "/assets/{asset_id}/uploads/{upload_id}",
        api.get(f"{uploads}/{NO_SUCH}"),
        404,
    )
    details = both("GET", "/assets/{asset_id}", "assets/name:config")
    assert (
        details["payload"]["type"] == "url"
        and details["payload"]["content_type"] == "text/plain"
    )
    assert requests.get(details["payload"]["url"], timeout=5).content == b"hello"
    c.check("GET", W + "/assets/{asset_id}", api.get(f"assets/{NO_SUCH}"), 404)
    assert both("GET", "/assets", "assets")["data"] == [{"id": aid, "name": "config"}]
    both("DELETE", "/assets/{asset_id}", f"assets/{aid}")
    c.check("DELETE", W + "/assets/{asset_id}", api.delete(f"assets/{aid}"), 404)

    missing = _fleet_operations(spec) - {(m, t) for m, t in c.seen}
    assert not missing, f"operations never exercised: {sorted(missing)}"


def _item_states(api: Api) -> list[str]:
    return sorted(i["state"] for i in api.get("work-items").json()["data"])


def test_step_runs_wait_for_a_worker_of_their_group(emu: EmulatorServer) -> None:
    api = Api(emu)
    process = emu.store.add_process("Invoices", steps=["Post"], failure_rate=0.0)
    for name in ("worker-eu1-01", "worker-eu1-02"):
        emu.set_worker_online(name, False)
    run = emu.store.create_run(process.id, payloads=[{"n": 1}, {"n": 2}])
    assert run is not None
    emu.advance(120)
    assert _item_states(api) == ["pending", "pending"]
    step_runs = api.get("step-runs", process_run_id=run.id).json()["data"]
    assert [s["state"] for s in step_runs] == ["awaiting_worker"]
    assert {w["state"] for w in api.get("workers").json()["data"]} == {"offline"}

    emu.set_worker_online("worker-eu1-02", True)
    emu.advance(3)
    assert {w["name"]: w["state"] for w in api.get("workers").json()["data"]}[
        "worker-eu1-02"
    ] == "busy"
    emu.advance(120)
    assert _item_states(api) == ["done", "done"]
    assert api.get(f"process-runs/{run.id}").json()["state"] == "completed"
    assert {w["state"] for w in api.get("workers").json()["data"]} == {
        "offline",
        "idle",
    }


def test_a_worker_taken_offline_hands_its_step_run_back(emu: EmulatorServer) -> None:
    api = Api(emu)
    process = emu.store.add_process(
        "Orders", steps=["Enter"], failure_rate=0.0, item_seconds=30
    )
    emu.set_worker_online("worker-eu1-02", False)
    run = emu.store.create_run(process.id, payloads=[{"n": n} for n in range(3)])
    assert run is not None
    emu.advance(10)
    assert "in_progress" in _item_states(api)
    emu.set_worker_online("worker-eu1-01", False)
    assert _item_states(api) == ["pending", "pending", "pending"]
    emu.advance(300)
    assert _item_states(api) == ["pending", "pending", "pending"]
    step_run = api.get("step-runs", process_run_id=run.id).json()["data"][0]
    assert step_run["state"] == "awaiting_worker"
    emu.set_worker_online("worker-eu1-01", True)
    emu.advance(400)
    assert _item_states(api) == ["done", "done", "done"]


def test_a_process_moved_to_an_empty_group_waits(emu: EmulatorServer) -> None:
    api = Api(emu)
    group = api.post("worker-groups", {"name": "Empty"}).json()
    process = emu.store.add_process("Payroll", steps=["Check"], failure_rate=0.0)
    moved = requests.post(
        f"{emu.url}/__emulator__/processes/{process.id}",
        json={"worker_group_id": group["id"]},
        timeout=5,
    )
    assert moved.status_code == 200
    emu.store.create_run(process.id, payloads=[{"n": 1}])
    emu.advance(60)
    assert _item_states(api) == ["pending"]
    worker = api.get("workers").json()["data"][0]
    api.put(f"worker-groups/{group['id']}/workers", {"worker": {"id": worker["id"]}})
    emu.advance(60)
    assert _item_states(api) == ["done"]


def test_unrouted_methods_are_405_with_allow(emu: EmulatorServer) -> None:
    api = Api(emu)
    for method in ("TRACE", "PATCH", "FROB"):
        answer = api.session.request(method, api.url("workers"), timeout=5)
        assert answer.status_code == 405, method
        assert answer.headers["Allow"] == "GET"
        assert answer.json()["error"]["code"] == "method_not_allowed"
    assert (
        api.session.request("TRACE", api.url("nowhere"), timeout=5).status_code == 404
    )


def test_a_null_payload_is_refused(emu: EmulatorServer) -> None:
    api = Api(emu)
    process = emu.store.add_process("P")
    item = api.post(
        "work-items", {"process": {"id": process.id}, "payload": {"a": 1}}
    ).json()
    answer = api.put(f"work-items/{item['id']}/payload", {"payload": None})
    assert answer.status_code == 400
    assert api.get(f"work-items/{item['id']}").json()["payload"] == {"a": 1}


# ------------------------------------------------------------------------------------------- client
def _client(emu: EmulatorServer, key: str | None = None) -> ControlRoomClient:
    return ControlRoomClient(
        key or emu.api_key,
        workspace_id=emu.workspace_id,
        base_url=emu.api_base_url,
        max_retries=0,
    )


def test_client_workers_and_groups(emu: EmulatorServer) -> None:
    with _client(emu) as client:
        workers = list(client.workers.list(limit=1))
        assert [w.name for w in workers] == ["worker-eu1-01", "worker-eu1-02"]
        assert client.workers.get(workers[0].id).state == "idle"
        assert client.workers.rename(workers[0].id, "renamed").name == "renamed"
        group = client.worker_groups.create("Finance")
        membership = client.worker_groups.add_worker(group.id, workers[1].id)
        assert [g.name for g in membership.worker_groups] == ["Default", "Finance"]
        token = client.worker_groups.create_link_token(
            group.id, name="t", expires_at=None
        )
        assert token.link_token and "link_token" not in repr(token)
        assert [t.id for t in client.worker_groups.link_tokens(group.id)] == [token.id]
        later = datetime.now(UTC) + timedelta(days=1)
        updated = client.worker_groups.update_link_token(
            group.id, token.id, name="u", expires_at=later
        )
        assert updated.expires_at is not None and updated.link_token is None
        assert client.worker_groups.link_token(group.id, token.id).name == "u"
        client.worker_groups.delete_link_token(group.id, token.id)
        assert client.workers.create_link_token(expires_at=later).link_token
        with pytest.raises(ValueError):
            client.workers.create_link_token(expires_at=datetime(2030, 1, 1))
        client.worker_groups.remove_worker(group.id, workers[1].id)
        assert client.worker_groups.rename(group.id, "Fin").name == "Fin"
        assert {g.name for g in client.worker_groups.list()} == {"Default", "Fin"}
        client.worker_groups.delete(group.id)
        with pytest.raises(NotFound):
            client.worker_groups.get(group.id)
        client.workers.delete(workers[0].id)
        assert [w.name for w in client.workers.list()] == ["worker-eu1-02"]
    reader = _client(emu, emu.create_key(["read_workers"]))
    with reader, pytest.raises(PermissionDenied):
        reader.worker_groups.create("nope")


def test_client_task_packages(emu: EmulatorServer) -> None:
    with _client(emu) as client:
        package = client.task_packages.create("bot")
        with pytest.raises(NotFound):
            client.task_packages.download_link(package.id)
        bundle = bytes(range(256)) * 1000
        client.task_packages.upload(package.id, bundle)
        assert client.task_packages.download(package.id) == bundle
        client.task_packages.delete(package.id)
        with pytest.raises(NotFound):
            client.task_packages.delete(package.id)


def test_client_assets_inline_and_by_put(emu: EmulatorServer, monkeypatch) -> None:
    with _client(emu) as client:
        created = client.assets.create("settings")
        assert created.payload.type == "empty"
        assert client.assets.content(created.id) == (b"", None)
        doc = json.dumps({"threshold": 5}).encode()
        assert (
            client.assets.set_content(created.id, doc, "application/json").status
            == "completed"
        )
        assert client.assets.content("name:settings") == (doc, "application/json")
        with pytest.raises(BadRequest):
            client.assets.set_content(created.id, b"{", "application/json")
        monkeypatch.setattr(assets_module, "INLINE_LIMIT", 4)  # force the raw PUT path
        big = b"x" * 5000
        client.assets.set_content(created.id, big, "application/octet-stream")
        assert client.assets.content(created.id) == (big, "application/octet-stream")
        with pytest.raises(AssetUploadFailed, match="not valid JSON"):
            client.assets.set_content(created.id, b"{nope", "application/json")
        assert [a.name for a in client.assets.list()] == ["settings"]
        client.assets.delete(created.id)
        with pytest.raises(NotFound):
            client.assets.get(created.id)


def test_workers_groups_and_assets_survive_a_state_file(tmp_path, emulator_factory):
    state = tmp_path / "emulator.pickle"
    emu = emulator_factory(
        state_file=state, workspace_id="ws-fleet", api_key="key-fleet"
    )
    api = Api(emu, "key-fleet")
    group = api.post("worker-groups", {"name": "SAP"}).json()
    asset = api.post("assets", {"name": "cfg"}).json()
    body = {"content_type": "text/plain", "data": base64.b64encode(b"kept").decode()}
    api.post(f"assets/{asset['id']}/uploads", body)
    emu.set_worker_online("worker-eu1-01", False)
    emu.stop()
    again = Api(emulator_factory(state_file=state, api_key="key-fleet"), "key-fleet")
    states = {w["name"]: w["state"] for w in again.get("workers").json()["data"]}
    assert states == {"worker-eu1-01": "offline", "worker-eu1-02": "idle"}
    assert again.get(f"worker-groups/{group['id']}").json()["name"] == "SAP"
    url = again.get("assets/name:cfg").json()["payload"]["url"]
    assert requests.get(url, timeout=5).content == b"kept"


def test_faults_apply_to_the_new_routes(emu: EmulatorServer) -> None:
    emu.faults.add(kind="error", path="/workers$", status=503, times=1)
    emu.faults.add(kind="rate_limit", path="/assets$", retry_after="0", times=1)
    client = ControlRoomClient(
        emu.api_key,
        workspace_id=emu.workspace_id,
        base_url=emu.api_base_url,
        max_retries=2,
        backoff_base=0.01,
    )
    with client:
        assert len(list(client.workers.list())) == 2
        assert client.assets.list() == []
    route = "/api/v1/workspaces/{workspace_id}/workers"
    assert emu.stats.count("GET", route) == 2  # the 503, then the answer
    assert emu.stats.count("GET", "/api/v1/workspaces/{workspace_id}/assets") == 2


def test_a_run_stopped_while_waiting_for_a_worker_ends(emu: EmulatorServer) -> None:
    api = Api(emu)
    process = emu.store.add_process("Waiting", steps=["Only"], failure_rate=0.0)
    for name in ("worker-eu1-01", "worker-eu1-02"):
        emu.set_worker_online(name, False)
    run = emu.store.create_run(process.id, payloads=[{"n": 1}, {"n": 2}])
    assert run is not None
    emu.advance(30)
    stop = {
        "set_remaining_work_items_as_done": False,
        "terminate_ongoing_activity_runs": False,
    }
    assert api.post(f"process-runs/{run.id}/stop", stop).json() == {"accepted": True}
    emu.advance(10)
    assert api.get(f"process-runs/{run.id}").json()["state"] == "unresolved"
    items = api.get("work-items", process_run_id=run.id).json()["data"]
    assert {(i["state"], i["exception"]["code"]) for i in items} == {
        ("failed", "PROCESS_RUN_STOPPED")
    }
