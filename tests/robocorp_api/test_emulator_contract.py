"""Every implemented v1 operation, success and error answers, validated against openapi-v1.json.

Each answer's JSON body is validated (OpenAPI 3.0 semantics: `nullable`, formats) against the response schema
the document declares for that operation and status; statuses the document does not declare for an operation
(e.g. a 404 on startProcessRun) are validated against `genericErrorResponse`. Finally we assert that every
operation of the families the emulator implements was exercised.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from openapi_schema_validator import OAS30Validator, oas30_format_checker

from robocorp_api.emulator import EmulatorServer

from .emu_helpers import Api

# Robocorp's own OpenAPI document, copied from ../shared/controlroom so the contract test never
# depends on where the checkout sits; test_the_spec_copy_is_current keeps the copy honest.
SPEC_PATH = Path(__file__).resolve().parent / "data" / "openapi-v1.json"
SHARED_SPEC_PATH = (
    Path(__file__).resolve().parents[2].parent
    / "shared"
    / "controlroom"
    / "openapi-v1.json"
)
IMPLEMENTED_FAMILIES = (
    "/processes",
    "/process-runs",
    "/step-runs",
    "/work-items",
    "/webhooks",
)
NO_SUCH = "00000000-0000-4000-8000-000000000000"


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SPEC_PATH.read_text())
    return loaded


def _implemented(spec: dict[str, Any]) -> set[tuple[str, str]]:
    ops: set[tuple[str, str]] = set()
    for path, methods in spec["paths"].items():
        rest = path.removeprefix("/workspaces/{workspace_id}")
        if rest == "" or any(rest.startswith(f) for f in IMPLEMENTED_FAMILIES):
            ops.update(
                (m.upper(), path)
                for m in methods
                if m in ("get", "post", "put", "delete")
            )
    return ops


class Checker:
    def __init__(self, spec: dict[str, Any], emu: EmulatorServer) -> None:
        self.spec = spec
        self.emu = emu
        self.seen: set[tuple[str, str]] = set()
        self.statuses: set[tuple[str, str, int]] = set()

    def check(
        self, method: str, template: str, answer: requests.Response, status: int
    ) -> Any:
        assert answer.status_code == status, (
            method,
            template,
            answer.status_code,
            answer.text,
        )
        assert answer.headers["Content-Type"].startswith("application/json")
        body = answer.json()
        responses = self.spec["paths"][template][method.lower()]["responses"]
        declared = responses.get(str(status))
        schema = (
            declared["content"]["application/json"]["schema"]
            if declared
            else {"$ref": "#/components/schemas/genericErrorResponse"}
        )
        validator = OAS30Validator(
            {**schema, "components": self.spec["components"]},
            format_checker=oas30_format_checker,
        )
        errors = sorted(validator.iter_errors(body), key=str)
        assert not errors, (
            f"{method} {template} {status}: {errors[0].message} at {list(errors[0].absolute_path)}"
        )
        self.seen.add((method, template))
        self.statuses.add((method, template, status))
        return body


def test_every_v1_operation_matches_the_openapi_document(spec, emu):
    api = Api(emu)
    nobody = Api(emu, emu.create_key([]))  # valid key, no permissions
    W = "/workspaces/{workspace_id}"
    c = Checker(spec, emu)
    hook_rx = "http://127.0.0.1:9/hook"

    def both(
        method: str, template: str, path: str, body: Any = None, status: int = 200
    ) -> Any:
        """The permitted call (status) and the same call without permission (403)."""
        calls: dict[str, Callable[[Api], requests.Response]] = {
            "GET": lambda a: a.get(path),
            "POST": lambda a: a.post(path, body),
            "PUT": lambda a: a.put(path, body),
            "DELETE": lambda a: a.delete(path),
        }
        call = calls[method]
        c.check(method, template, call(nobody), 403)
        return c.check(method, template, call(api), status)

    process = emu.store.add_process(
        "Contract", steps=["One", "Two"], failure_rate=0.5, item_seconds=1
    )
    c.check("GET", W, api.get(""), 200)
    c.check(
        "GET",
        W,
        requests.get(
            api.url(""), headers={"Authorization": "RC-WSKEY wrong"}, timeout=5
        ),
        401,
    )
    both("GET", W + "/processes", "processes")

    started = both(
        "POST",
        W + "/processes/{process_id}/process-runs",
        f"processes/{process.id}/process-runs",
        {"type": "with_payloads", "payloads": [{"i": i} for i in range(8)]},
    )
    run_id = started["id"]
    c.check(
        "POST",
        W + "/processes/{process_id}/process-runs",
        api.post(f"processes/{process.id}/process-runs", {"type": "with_inputs"}),
        200,
    )
    c.check(
        "POST",
        W + "/processes/{process_id}/process-runs",
        api.post(f"processes/{process.id}/process-runs", {"type": "bad"}),
        400,
    )
    c.check(
        "POST",
        W + "/processes/{process_id}/process-runs",
        api.post(f"processes/{NO_SUCH}/process-runs"),
        404,
    )
    integ = W + "/processes/{process_id}/process-runs-integrations"
    c.check(
        "POST",
        integ,
        requests.post(
            api.url(f"processes/{process.id}/process-runs-integrations"),
            params={"token": emu.api_key},
            json={"from": "asana"},
            timeout=5,
        ),
        200,
    )
    c.check(
        "POST",
        integ,
        requests.post(
            api.url(f"processes/{process.id}/process-runs-integrations"),
            json={},
            timeout=5,
        ),
        400,
    )

    c.check(
        "DELETE",
        W + "/process-runs/{process_run_id}",
        api.delete(f"process-runs/{run_id}"),
        409,
    )
    emu.advance(600)

    both("GET", W + "/process-runs", "process-runs?limit=2")
    c.check(
        "GET",
        W + "/process-runs",
        api.get("process-runs", state="unresolved", process_id=process.id),
        200,
    )
    both("GET", W + "/process-runs/{process_run_id}", f"process-runs/{run_id}")
    c.check(
        "GET",
        W + "/process-runs/{process_run_id}",
        api.get(f"process-runs/{NO_SUCH}"),
        404,
    )
    both(
        "GET",
        W + "/process-runs/{process_run_id}/outputs",
        f"process-runs/{run_id}/outputs?limit=2",
    )
    stop = {
        "set_remaining_work_items_as_done": False,
        "terminate_ongoing_activity_runs": True,
    }
    both(
        "POST",
        W + "/process-runs/{process_run_id}/stop",
        f"process-runs/{run_id}/stop",
        stop,
    )
    c.check(
        "POST",
        W + "/process-runs/{process_run_id}/stop",
        api.post(f"process-runs/{run_id}/stop", {}),
        400,
    )
    c.check(
        "POST",
        W + "/process-runs/{process_run_id}/stop",
        api.post(f"process-runs/{NO_SUCH}/stop", stop),
        404,
    )

    step_runs = both(
        "GET", W + "/step-runs", f"step-runs?process_run_id={run_id}&limit=1"
    )
    c.check("GET", W + "/step-runs", api.get("step-runs"), 400)
    step_run_id = step_runs["data"][0]["id"]
    both("GET", W + "/step-runs/{step_run_id}", f"step-runs/{step_run_id}")
    artifacts = both(
        "GET",
        W + "/step-runs/{step_run_id}/artifacts",
        f"step-runs/{step_run_id}/artifacts",
    )
    both(
        "GET",
        W + "/step-runs/{step_run_id}/artifacts/{artifact_id}",
        f"step-runs/{step_run_id}/artifacts/{artifacts['data'][0]['id']}",
    )
    both(
        "GET",
        W + "/step-runs/{step_run_id}/console-messages",
        f"step-runs/{step_run_id}/console-messages?limit=3",
    )
    c.check(
        "GET",
        W + "/step-runs/{step_run_id}/console-messages",
        api.get(f"step-runs/{NO_SUCH}/console-messages"),
        404,
    )
    both(
        "GET",
        W + "/step-runs/{step_run_id}/events",
        f"step-runs/{step_run_id}/events?limit=3",
    )

    items = both(
        "GET", W + "/work-items", f"work-items?process_run_id={run_id}&limit=50"
    )
    c.check(
        "GET",
        W + "/work-items",
        api.get("work-items", state="failed", process_id=process.id),
        200,
    )
    failed = [i["id"] for i in items["data"] if i["state"] == "failed"]
    assert failed, "the 50% failure rate should fail some of 8 items"
    both("GET", W + "/work-items/{work_item_id}", f"work-items/{failed[0]}")
    c.check(
        "GET", W + "/work-items/{work_item_id}", api.get(f"work-items/{NO_SUCH}"), 404
    )
    created = both(
        "POST",
        W + "/work-items",
        "work-items",
        {"process": {"id": process.id}, "payload": {"new": True}},
    )
    c.check("POST", W + "/work-items", api.post("work-items", {"payload": 1}), 400)
    both(
        "PUT",
        W + "/work-items/{work_item_id}/payload",
        f"work-items/{created['id']}/payload",
        {"payload": [1, "two"]},
    )
    c.check(
        "PUT",
        W + "/work-items/{work_item_id}/payload",
        api.put(f"work-items/{created['id']}/payload", {}),
        400,
    )
    both(
        "POST",
        W + "/work-items/{work_item_id}/files/upload",
        f"work-items/{created['id']}/files/upload",
        {"file_name": "a.txt", "file_size": 3},
    )
    c.check(
        "POST",
        W + "/work-items/{work_item_id}/files/upload",
        api.post(f"work-items/{created['id']}/files/upload", {"file_size": 3}),
        400,
    )
    c.check(
        "POST",
        W + "/work-items/batch",
        api.post(
            "work-items/batch", {"batch_operation": "retry", "work_item_ids": failed}
        ),
        200,
    )
    c.check(
        "POST",
        W + "/work-items/batch",
        nobody.post(
            "work-items/batch", {"batch_operation": "retry", "work_item_ids": failed}
        ),
        403,
    )
    c.check(
        "POST",
        W + "/work-items/batch",
        api.post("work-items/batch", {"batch_operation": "nope", "work_item_ids": []}),
        400,
    )
    c.check(
        "POST",
        W + "/work-items",
        api.post("work-items", {"process": {"id": NO_SUCH}, "payload": 1}),
        404,
    )

    hook = both(
        "POST",
        W + "/webhooks",
        "webhooks",
        {
            "endpoint": hook_rx,
            "enabled_events": ["process_run.completed"],
            "process": {"id": process.id},
        },
    )
    c.check("POST", W + "/webhooks", api.post("webhooks", {"endpoint": hook_rx}), 400)
    both("GET", W + "/webhooks", "webhooks")
    both("GET", W + "/webhooks/{webhook_id}", f"webhooks/{hook['id']}")
    c.check("GET", W + "/webhooks/{webhook_id}", api.get(f"webhooks/{NO_SUCH}"), 404)
    both("DELETE", W + "/webhooks/{webhook_id}", f"webhooks/{hook['id']}")

    emu.advance(600)
    both("DELETE", W + "/process-runs/{process_run_id}", f"process-runs/{run_id}")
    c.check(
        "DELETE",
        W + "/process-runs/{process_run_id}",
        api.delete(f"process-runs/{run_id}"),
        404,
    )

    missing = _implemented(spec) - c.seen
    assert not missing, f"operations never exercised: {sorted(missing)}"
    assert len(c.statuses) > 60


def test_the_spec_copy_is_current() -> None:
    if not SHARED_SPEC_PATH.exists():
        pytest.skip("no ../shared/controlroom beside this checkout to compare with")
    assert SPEC_PATH.read_bytes() == SHARED_SPEC_PATH.read_bytes()
