"""The Control Room API v1 (`/api/v1/workspaces/{workspace_id}/...`) over the emulator store.

Orders: process runs, step runs and work items newest first (created_at desc, then id desc); console messages
and events oldest first (log order); artifacts in creation order.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

from .items import DONE, STATE_CODES, STATES
from .routing import (
    Request,
    Response,
    Router,
    authorize,
    decode_cursor,
    encode_cursor,
    json_response,
    page,
)
from .store import (
    RUN_STATES,
    EmulatorError,
    Process,
    Run,
    StepRun,
    Store,
    bad_request,
    not_found,
)
from .synth import iso

W = "/api/v1/workspaces/{workspace_id}"
WEBHOOK_EVENTS = (
    "process_run.started",
    "process_run.completed",
    "process_run.unresolved",
)
CALLBACK_EVENTS = ("started", "completed", "unresolved")


# ------------------------------------------------------------------------------------------- renderers
def _ts(value: float | None) -> str | None:
    return None if value is None else iso(value)


def render_run(store: Store, run: Run) -> dict[str, Any]:
    process = store.processes[run.process_idx]
    return {
        "id": run.id,
        "state": run.state,
        "created_at": iso(run.created_at),
        "started_at": _ts(run.started_at),
        "ended_at": _ts(run.ended_at),
        "process": {"id": process.id, "name": process.name},
        "started_by": {"type": run.started_by, "details": run.started_by_details},
        "duration": None
        if run.ended_at is None or run.started_at is None
        else round(run.ended_at - run.started_at, 3),
    }


def render_step_run(store: Store, step_run: StepRun) -> dict[str, Any]:
    run = store.runs[step_run.run_idx]
    step = store.processes[run.process_idx].steps[step_run.step_no]
    ended = step_run.ended_at
    return {
        "id": step_run.id,
        "state": step_run.state,
        "state_updated_at": iso(step_run.state_updated_at),
        "error": None if step_run.error_code is None else {"code": step_run.error_code},
        "started_at": _ts(step_run.started_at),
        "ended_at": _ts(ended),
        "duration": None
        if ended is None or step_run.started_at is None
        else round(ended - step_run.started_at, 3),
        "step": {"id": step.id, "name": step.name},
    }


def render_item(store: Store, row: int, *, full: bool) -> dict[str, Any]:
    items = store.items
    process = store.processes[items.proc[row]]
    run, step, step_run, exc = (
        items.run[row],
        items.step[row],
        items.step_run[row],
        items.exc[row],
    )
    data: dict[str, Any] = {
        "id": items.item_id(row),
        "created_at": iso(items.created[row]),
        "state": STATES[items.state[row]],
        "state_updated_at": iso(items.updated[row]),
        "process": {"id": process.id},
        "process_run": None if run < 0 else {"id": store.runs[run].id},
        "step": None if run < 0 or step < 0 else {"id": process.steps[step].id},
        "step_run": None if step_run < 0 else {"id": store.step_runs[step_run].id},
        "exception": None,
    }
    if exc >= 0 and items.state[row] == STATE_CODES["failed"]:
        kind, code, message = store.exceptions[exc]
        data["exception"] = {"type": kind, "code": code, "message": message}
    if full:
        data["payload"] = store.item_payload(row)
        data["files"] = [
            {"id": f, "name": n, "size": s} for f, n, s in store.item_files(row)
        ]
    return data


def output_payload(store: Store, row: int) -> Any:
    payload = store.item_payload(row)
    result = {"status": "processed", "processed_at": iso(store.items.updated[row])}
    return (
        {**payload, **result}
        if isinstance(payload, dict)
        else {"input": payload, **result}
    )


def render_webhook(store: Store, hook_id: str, *, secret: bool) -> dict[str, Any]:
    hook = store.webhooks[hook_id]
    data: dict[str, Any] = {
        "id": hook.id,
        "process": None
        if hook.process_idx is None
        else {"id": store.processes[hook.process_idx].id},
        "enabled_events": list(hook.enabled_events),
        "endpoint": hook.endpoint,
    }
    if secret:
        data["secret"] = hook.secret
    return data


def blob_url(req: Request, step_run: StepRun, artifact_id: str, name: str) -> str:
    return f"{req.base_url}/__blobs__/artifacts/{step_run.id}/{artifact_id}/{name}"


# ------------------------------------------------------------------------------------------- query helpers
def state_filter(req: Request, allowed: tuple[str, ...]) -> str | None:
    state = req.query.get("state")
    if state is not None and state not in allowed:
        raise bad_request(
            f"Invalid state {state!r}; expected one of {', '.join(allowed)}",
            "invalid_parameter",
        )
    return state


def iter_runs(
    store: Store, before: int | None, process: Process | None, state: str | None
) -> Iterator[Run]:
    start = len(store.runs) if before is None else min(before, len(store.runs))
    for idx in range(start - 1, -1, -1):
        run = store.runs[idx]
        if (
            run.deleted
            or (process is not None and run.process_idx != process.idx)
            or (state is not None and run.state != state)
        ):
            continue
        yield run


def run_page(req: Request, process: Process | None) -> Response:
    store = req.app.store
    state = state_filter(req, RUN_STATES)
    with store.lock:
        rows = iter_runs(store, decode_cursor(req, "r"), process, state)
        return json_response(
            page(
                req,
                rows,
                lambda r: render_run(store, r),
                lambda r: encode_cursor("r", r.idx),
            )
        )


def item_page(
    req: Request, *, process: Process | None = None, run: Run | None = None
) -> Response:
    store = req.app.store
    state = state_filter(req, STATES)
    with store.lock:
        before = decode_cursor(req, "w")
        states = range(5) if state is None else [STATE_CODES[state]]
        if run is not None:
            rows = store.items.iter_rows_desc(run.items, states, before)
        else:
            procs = (
                {p.idx for p in store.processes} if process is None else {process.idx}
            )
            rows = store.items.iter_desc(procs, states, before)
        return json_response(
            page(
                req,
                rows,
                lambda r: render_item(store, r, full=False),
                lambda r: encode_cursor("w", r),
            )
        )


def list_page(
    req: Request, values: list[Any], render: Any, *, newest_first: bool
) -> Response:
    """A page over a short in-memory list, the cursor being a position."""
    position = decode_cursor(req, "p")
    order = range(len(values) - 1, -1, -1) if newest_first else range(len(values))
    positions: Iterator[int] = (
        i
        for i in order
        if position is None or (i < position if newest_first else i > position)
    )
    return json_response(
        page(
            req, positions, lambda i: render(values[i]), lambda i: encode_cursor("p", i)
        )
    )


def lookup_process_param(store: Store, process_id: str | None) -> Process | None:
    if process_id is None:
        return None
    idx = store.process_by_id.get(process_id)
    if idx is None:
        return None
    return store.processes[idx]


# ------------------------------------------------------------------------------------------- workspace, processes, runs
def get_workspace(req: Request) -> Response:
    authorize(req, None)
    store = req.app.store
    return json_response(
        {
            "id": store.workspace_id,
            "name": store.workspace_name,
            "organization": dict(store.organization),
        }
    )


def list_processes(req: Request) -> Response:
    authorize(req, "read_processes")
    store = req.app.store
    with store.lock:
        data = [
            {"id": p.id, "name": p.name, "created_at": iso(p.created_at)}
            for p in store.live_processes()
        ]
    return json_response({"data": data})


def list_process_runs(req: Request) -> Response:
    authorize(req, "read_runs")
    store = req.app.store
    process_id = req.query.get("process_id")
    process = lookup_process_param(store, process_id)
    if process_id is not None and process is None:
        return json_response({"data": [], "has_more": False, "next": None})
    return run_page(req, process)


def list_runs_of_process(req: Request) -> Response:
    authorize(req, "read_runs")
    return run_page(req, req.app.store.get_process(req.params["process_id"]))


def get_process_run(req: Request) -> Response:
    authorize(req, "read_processes")
    store = req.app.store
    with store.lock:
        return json_response(
            render_run(store, store.get_run(req.params["process_run_id"]))
        )


def delete_process_run(req: Request) -> Response:
    authorize(req, "read_runs")
    store = req.app.store
    with store.lock:
        run = store.get_run(req.params["process_run_id"])
        store.delete_run(run)
    return json_response({"id": run.id, "deleted": True})


def stop_process_run(req: Request) -> Response:
    authorize(req, "trigger_processes")
    store = req.app.store
    body = req.json_object()
    flags = {}
    for name in ("set_remaining_work_items_as_done", "terminate_ongoing_activity_runs"):
        value = body.get(name)
        if not isinstance(value, bool):
            raise bad_request(f"{name} is required and must be a boolean")
        flags[name] = value
    reason = body.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise bad_request("reason must be a string")
    with store.lock:
        run = store.get_run(req.params["process_run_id"])
        accepted = store.stop_run(
            run,
            terminate=flags["terminate_ongoing_activity_runs"],
            remaining_done=flags["set_remaining_work_items_as_done"],
            reason=reason,
        )
    return json_response({"accepted": accepted})


def list_run_outputs(req: Request) -> Response:
    authorize(req, "read_work_items")
    store = req.app.store
    with store.lock:
        run = store.get_run(req.params["process_run_id"])
        process = store.processes[run.process_idx]
        last = len(process.steps) - 1
        rows = (
            r
            for r in store.items.iter_rows_desc(
                run.items, [DONE], decode_cursor(req, "w")
            )
            if store.items.step[r] == last
        )

        def render(row: int) -> dict[str, Any]:
            return {
                "id": store.items.output_id(row),
                "created_at": iso(store.items.updated[row]),
                "process": {"id": process.id},
                "process_run": {"id": run.id},
                "payload": output_payload(store, row),
                "files": [],
            }

        return json_response(page(req, rows, render, lambda r: encode_cursor("w", r)))


def parse_callback(body: dict[str, Any]) -> dict[str, Any] | None:
    callback = body.get("callback")
    if callback is None:
        return None
    if not isinstance(callback, dict):
        raise bad_request("callback must be an object {url, secret, callback_events}")
    url, secret, events = (
        callback.get("url"),
        callback.get("secret"),
        callback.get("callback_events"),
    )
    if not isinstance(url, str) or urlparse(url).scheme not in ("http", "https"):
        raise bad_request("callback.url must be an http(s) URL")
    if not isinstance(secret, str) or not secret:
        raise bad_request("callback.secret must be a non-empty string")
    if (
        not isinstance(events, list)
        or not events
        or any(e not in CALLBACK_EVENTS for e in events)
    ):
        raise bad_request(
            f"callback.callback_events must be a non-empty list of {', '.join(CALLBACK_EVENTS)}"
        )
    return {"url": url, "secret": secret, "callback_events": list(events)}


def start_process_run(req: Request) -> Response:
    authorize(req, "trigger_processes")
    body = req.json(default=None)
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise bad_request("Request body must be a JSON object (or empty)")
    callback = parse_callback(body)
    kind = body.get("type")
    store = req.app.store
    process_id = req.params["process_id"]
    if kind is None:
        run = store.create_run(process_id, callback=callback)
    elif kind == "with_work_item_ids":
        ids = body.get("work_item_ids")
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise bad_request("work_item_ids must be a list of work item ids")
        run = store.create_run(process_id, item_ids=ids, callback=callback)
    elif kind == "with_inputs":
        run = store.create_run(process_id, with_inputs=True, callback=callback)
    elif kind == "with_payloads":
        payloads = body.get("payloads")
        if not isinstance(payloads, list) or not payloads:
            raise bad_request("payloads must be a non-empty list of JSON values")
        run = store.create_run(process_id, payloads=payloads, callback=callback)
    else:
        raise bad_request(
            f"Unknown type {kind!r}; expected with_work_item_ids, with_inputs or with_payloads"
        )
    return json_response(
        {"started": False} if run is None else {"started": True, "id": run.id}
    )


def start_process_run_qs_auth(req: Request) -> Response:
    token = req.query.get("token")
    if not token:
        raise EmulatorError(
            400, "bad_request", "The token query parameter (an API key) is required"
        )
    del req.headers["Authorization"]
    req.headers["Authorization"] = f"RC-WSKEY {token}"
    authorize(req, "trigger_processes")
    run = req.app.store.create_run(
        req.params["process_id"], payloads=[req.json(default=None)]
    )
    assert run is not None
    return json_response({"started": True, "id": run.id})


# ------------------------------------------------------------------------------------------- step runs
def list_step_runs(req: Request) -> Response:
    authorize(req, "read_processes")
    run_id = req.query.get("process_run_id") or req.params.get("process_run_id")
    if not run_id:
        raise bad_request(
            "The process_run_id query parameter is required", "invalid_parameter"
        )
    store = req.app.store
    with store.lock:
        run = store.get_run(run_id)
        step_runs = [store.step_runs[i] for i in run.step_runs]
        return list_page(
            req, step_runs, lambda s: render_step_run(store, s), newest_first=True
        )


def _step_run(req: Request, permission: str) -> StepRun:
    authorize(req, permission)
    store = req.app.store
    step_run = store.get_step_run(req.params["step_run_id"])
    store.step_run_outputs(step_run)
    return step_run


def get_step_run(req: Request) -> Response:
    store = req.app.store
    with store.lock:
        return json_response(render_step_run(store, _step_run(req, "read_runs")))


def list_artifacts(req: Request) -> Response:
    with req.app.store.lock:
        artifacts = _step_run(req, "read_run_outputs").artifacts or []
        return list_page(
            req,
            artifacts,
            lambda a: {"id": a.id, "name": a.name, "size": len(a.data)},
            newest_first=False,
        )


def get_artifact(req: Request) -> Response:
    with req.app.store.lock:
        step_run = _step_run(req, "read_run_outputs")
        for artifact in step_run.artifacts or []:
            if artifact.id == req.params["artifact_id"]:
                url = blob_url(req, step_run, artifact.id, artifact.name)
                return json_response(
                    {
                        "id": artifact.id,
                        "name": artifact.name,
                        "size": len(artifact.data),
                        "url": url,
                    }
                )
    raise not_found(f"Artifact {req.params['artifact_id']} not found")


def list_console_messages(req: Request) -> Response:
    with req.app.store.lock:
        console = list(_step_run(req, "read_run_outputs").console or [])
    return list_page(
        req,
        console,
        lambda m: {"timestamp": iso(m[0]), "message": m[1]},
        newest_first=False,
    )


def list_events(req: Request) -> Response:
    with req.app.store.lock:
        events = list(_step_run(req, "read_run_outputs").events or [])
    return list_page(
        req,
        events,
        lambda e: {"timestamp": iso(e[0]), "event_type": e[1], "data": e[2]},
        newest_first=False,
    )


# ------------------------------------------------------------------------------------------- work items
def list_work_items(req: Request) -> Response:
    authorize(req, "read_work_items")
    store = req.app.store
    run_id, process_id = req.query.get("process_run_id"), req.query.get("process_id")
    with store.lock:
        run = store.run_by_id.get(run_id) if run_id else None
        process = lookup_process_param(store, process_id)
        if (run_id and run is None) or (process_id and process is None):
            state_filter(req, STATES)
            return json_response({"data": [], "has_more": False, "next": None})
        run_obj = None if run is None else store.runs[run]
        if (
            run_obj is not None
            and process is not None
            and run_obj.process_idx != process.idx
        ):
            return json_response({"data": [], "has_more": False, "next": None})
        return item_page(req, process=process, run=run_obj)


def list_items_of_run(req: Request) -> Response:
    authorize(req, "read_work_items")
    return item_page(req, run=req.app.store.get_run(req.params["process_run_id"]))


def list_items_of_process(req: Request) -> Response:
    authorize(req, "read_work_items")
    return item_page(req, process=req.app.store.get_process(req.params["process_id"]))


def get_work_item(req: Request) -> Response:
    authorize(req, "read_work_items")
    store = req.app.store
    with store.lock:
        return json_response(
            render_item(store, store.get_item(req.params["work_item_id"]), full=True)
        )


def create_work_item(req: Request) -> Response:
    authorize(req, "write_work_items")
    body = req.json_object()
    process_ref = body.get("process")
    if not isinstance(process_ref, dict) or not isinstance(process_ref.get("id"), str):
        raise bad_request('process must be an object {"id": <process id>}')
    if "payload" not in body:
        raise bad_request("payload is required (any JSON value)")
    store = req.app.store
    with store.lock:
        process = store.get_process(process_ref["id"])
        row = store.create_input_item(process, body["payload"])
        return json_response(render_item(store, row, full=True))


def update_payload(req: Request) -> Response:
    authorize(req, "write_work_items")
    body = req.json_object()
    if body.get("payload") is None:
        # anyValidJson of the document: an object, array, string, number or boolean; never null.
        raise bad_request(
            "payload is required: a JSON object, array, string, number or boolean"
        )
    store = req.app.store
    with store.lock:
        row = store.get_item(req.params["work_item_id"])
        store.update_payload(row, body["payload"])
        return json_response({"payload": store.item_payload(row)})


def register_upload(req: Request) -> Response:
    authorize(req, "write_work_items")
    body = req.json_object()
    name, size = body.get("file_name"), body.get("file_size")
    if (
        not isinstance(name, str)
        or isinstance(size, bool)
        or not isinstance(size, int | float)
    ):
        raise bad_request(
            "file_name (string) and file_size (number of bytes) are required"
        )
    store = req.app.store
    row = store.get_item(req.params["work_item_id"])
    token = store.register_upload(row, name, int(size))
    return json_response(
        {
            "url": f"{req.base_url}/__uploads__/",
            "form_data": upload_fields(store, row, name, token),
        }
    )


def upload_fields(store: Store, row: int, name: str, token: str) -> dict[str, str]:
    return {
        "key": f"workitems/{store.items.item_id(row)}/{name}",
        "Content-Type": "application/octet-stream",
        "x-emulator-token": token,
    }


def batch(req: Request) -> Response:
    authorize(req, "write_work_items")
    body = req.json_object()
    operation, ids = body.get("batch_operation"), body.get("work_item_ids")
    if operation not in ("retry", "mark_as_done", "delete"):
        raise bad_request(
            f"batch_operation must be retry, mark_as_done or delete, got {operation!r}"
        )
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise bad_request("work_item_ids must be a list of work item ids (strings)")
    store = req.app.store
    with store.lock:
        rows = [
            row for row in (store.items.parse_id(i) for i in ids) if row is not None
        ]
        store.batch(operation, rows)
    return json_response({"accepted": True})


# ------------------------------------------------------------------------------------------- webhooks
def list_webhooks(req: Request) -> Response:
    authorize(req, "read_webhooks")
    store = req.app.store
    with store.lock:
        return json_response(
            {"data": [render_webhook(store, h, secret=False) for h in store.webhooks]}
        )


def create_webhook(req: Request) -> Response:
    authorize(req, "write_webhooks")
    body = req.json_object()
    endpoint, events, process_ref = (
        body.get("endpoint"),
        body.get("enabled_events"),
        body.get("process"),
    )
    if (
        not isinstance(endpoint, str)
        or urlparse(endpoint).scheme not in ("http", "https")
        or not urlparse(endpoint).netloc
    ):
        raise bad_request("endpoint must be an absolute http(s) URL")
    if (
        not isinstance(events, list)
        or not events
        or any(e not in WEBHOOK_EVENTS for e in events)
    ):
        raise bad_request(
            f"enabled_events must be a non-empty list of {', '.join(WEBHOOK_EVENTS)}"
        )
    if not isinstance(process_ref, dict) or not isinstance(process_ref.get("id"), str):
        raise bad_request('process must be an object {"id": <process id>}')
    store = req.app.store
    with store.lock:
        idx = store.process_by_id.get(process_ref["id"])
        if idx is None:
            raise bad_request(
                f"Process {process_ref['id']} does not exist", "invalid_process"
            )
        hook = store.add_webhook(endpoint, sorted(set(events)), store.processes[idx])
        return json_response(render_webhook(store, hook.id, secret=True))


def get_webhook(req: Request) -> Response:
    authorize(req, "read_webhooks")
    store = req.app.store
    with store.lock:
        if req.params["webhook_id"] not in store.webhooks:
            raise not_found(f"Webhook {req.params['webhook_id']} not found")
        return json_response(
            render_webhook(store, req.params["webhook_id"], secret=True)
        )


def delete_webhook(req: Request) -> Response:
    authorize(req, "write_webhooks")
    store = req.app.store
    with store.lock:
        if store.webhooks.pop(req.params["webhook_id"], None) is None:
            raise not_found(f"Webhook {req.params['webhook_id']} not found")
    return json_response({"id": req.params["webhook_id"], "deleted": True})


def register(router: Router) -> None:
    add = router.add
    add("GET", W, get_workspace)
    add("GET", W + "/processes", list_processes)
    add("GET", W + "/processes/{process_id}/process-runs", list_runs_of_process)
    add("POST", W + "/processes/{process_id}/process-runs", start_process_run)
    add(
        "POST",
        W + "/processes/{process_id}/process-runs-integrations",
        start_process_run_qs_auth,
    )
    add("GET", W + "/processes/{process_id}/work-items", list_items_of_process)
    add("GET", W + "/process-runs", list_process_runs)
    add("GET", W + "/process-runs/{process_run_id}", get_process_run)
    add("DELETE", W + "/process-runs/{process_run_id}", delete_process_run)
    add("POST", W + "/process-runs/{process_run_id}/stop", stop_process_run)
    add("GET", W + "/process-runs/{process_run_id}/outputs", list_run_outputs)
    add("GET", W + "/process-runs/{process_run_id}/step-runs", list_step_runs)
    add("GET", W + "/process-runs/{process_run_id}/work-items", list_items_of_run)
    add("GET", W + "/step-runs", list_step_runs)
    add("GET", W + "/step-runs/{step_run_id}", get_step_run)
    add("GET", W + "/step-runs/{step_run_id}/artifacts", list_artifacts)
    add("GET", W + "/step-runs/{step_run_id}/artifacts/{artifact_id}", get_artifact)
    add("GET", W + "/step-runs/{step_run_id}/console-messages", list_console_messages)
    add("GET", W + "/step-runs/{step_run_id}/events", list_events)
    add("POST", W + "/work-items/batch", batch)
    add("GET", W + "/work-items", list_work_items)
    add("POST", W + "/work-items", create_work_item)
    add("GET", W + "/work-items/{work_item_id}", get_work_item)
    add("PUT", W + "/work-items/{work_item_id}/payload", update_payload)
    add("POST", W + "/work-items/{work_item_id}/payload", update_payload)
    add("POST", W + "/work-items/{work_item_id}/files/upload", register_upload)
    add("GET", W + "/webhooks", list_webhooks)
    add("POST", W + "/webhooks", create_webhook)
    add("GET", W + "/webhooks/{webhook_id}", get_webhook)
    add("DELETE", W + "/webhooks/{webhook_id}", delete_webhook)
