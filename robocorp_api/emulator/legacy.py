"""The legacy Process API (`/process-v1/workspaces/{workspace_id}/...`) with its own shapes.

camelCase fields, UPPER_CASE states, `{"data": [...]}` wrappers for processes / runs / work items, bare arrays
for `pruns`, artifacts, messages and events, and the artifact link answered as a JSON string. Lists are not
paginated: `limit` (default 100, at most 1000) caps them, newest first.
"""

from __future__ import annotations

from typing import Any

from .items import STATES
from .routing import Request, Response, Router, authorize, json_response, parse_limit
from .store import Process, Run, StepRun, Store, bad_request, conflict, not_found
from .synth import iso
from .v1 import blob_url, iter_runs, upload_fields

WS = "/process-v1/workspaces/{workspace_id}"
P = WS + "/processes/{process_id}"
RR = P + "/runs/{run_id}/robotRuns/{robot_run_id}"
ITEM_STATES = {
    "new": "NEW",
    "pending": "PENDING",
    "in_progress": "IN_PROGRESS",
    "failed": "FAILED",
    "done": "COMPLETED",
}
RUN_STATES = {
    "new": "IND",
    "in_progress": "IP",
    "stopping": "IP",
    "completed": "COMPL",
    "unresolved": "PENDING",
}
STEP_STATES = {
    "new": "INI",
    "awaiting_worker": "IND",
    "in_progress": "IP",
    "completed": "COMPL",
    "failed": "ERR",
}


def _ts(value: float | None) -> str | None:
    return None if value is None else iso(value)


def render_item(store: Store, row: int, include_data: bool) -> dict[str, Any]:
    items = store.items
    process = store.processes[items.proc[row]]
    run_idx, step, step_run = items.run[row], items.step[row], items.step_run[row]
    run = store.runs[run_idx] if run_idx >= 0 else None
    state = STATES[items.state[row]]
    data: dict[str, Any] = {
        "id": items.item_id(row),
        "state": ITEM_STATES[state],
        "stateTs": iso(items.updated[row]),
        "createTs": iso(items.created[row]),
        "queueTs": iso(items.created[row]),
        "workspaceId": store.workspace_id,
        "processId": process.id,
        "processName": process.name,
        "processRunId": None if run is None else run.id,
        "processRunNo": None if run is None else run.run_no,
        "activityId": None if run is None or step < 0 else process.steps[step].id,
        "activityRunId": None if step_run < 0 else store.step_runs[step_run].id,
        "batchPriority": 0,
        "files": [
            {"fileId": f, "fileName": n, "fileSize": s}
            for f, n, s in store.item_files(row)
        ],
    }
    if state == "failed" and items.exc[row] >= 0:
        kind, code, message = store.exceptions[items.exc[row]]
        data["exception"] = {"type": kind.upper(), "code": code, "message": message}
    if include_data:
        data["payload"] = store.item_payload(row)
    return data


def render_robot_run(store: Store, step_run: StepRun) -> dict[str, Any]:
    run = store.runs[step_run.run_idx]
    step = store.processes[run.process_idx].steps[step_run.step_no]
    return {
        "id": step_run.id,
        "state": STEP_STATES[step_run.state],
        "activityId": step.id,
        "activityName": step.name,
        "processRunId": run.id,
        "startTs": _ts(step_run.started_at),
        "endTs": _ts(step_run.ended_at),
        "errorCode": step_run.error_code,
        "workerName": step_run.worker,
    }


def render_run(store: Store, run: Run, embed: bool) -> dict[str, Any]:
    process = store.processes[run.process_idx]
    counts = store.run_counts(run)
    step_runs = [store.step_runs[i] for i in run.step_runs]
    return {
        "id": run.id,
        "runNo": run.run_no,
        "state": RUN_STATES[run.state],
        "result": "ERR"
        if run.state == "unresolved"
        else ("OK" if run.state == "completed" else None),
        "errorCode": "WORK_ITEMS_FAILED" if run.state == "unresolved" else None,
        "createTs": iso(run.created_at),
        "startTs": _ts(run.started_at),
        "endTs": _ts(run.ended_at),
        "duration": None
        if run.ended_at is None or run.started_at is None
        else round(run.ended_at - run.started_at),
        "workspaceId": store.workspace_id,
        "processId": process.id,
        "processName": process.name,
        "robotRuns": [
            render_robot_run(store, s) if embed else {"id": s.id} for s in step_runs
        ],
        "workItemStats": {
            "totalCount": sum(counts.values()),
            "failedCount": counts["failed"],
            "succeededCount": counts["done"],
        },
    }


def _process(req: Request, permission: str) -> Process:
    authorize(req, permission)
    return req.app.store.get_process(req.params["process_id"])


def _run(req: Request, permission: str) -> Run:
    process = _process(req, permission)
    run = req.app.store.get_run(req.params["run_id"])
    if run.process_idx != process.idx:
        raise not_found(f"Process run {run.id} not found in process {process.id}")
    return run


def _robot_run(req: Request, permission: str) -> StepRun:
    run = _run(req, permission)
    store = req.app.store
    step_run = store.get_step_run(req.params["robot_run_id"])
    if step_run.run_idx != run.idx:
        raise not_found(f"Robot run {step_run.id} not found in process run {run.id}")
    store.step_run_outputs(step_run)
    return step_run


def _include(req: Request) -> bool:
    return req.query.get("includeData", "false").lower() == "true"


def list_processes(req: Request) -> Response:
    authorize(req, "read_processes")
    store = req.app.store
    with store.lock:
        return json_response(
            {
                "data": [
                    {"id": p.id, "name": p.name, "createTs": iso(p.created_at)}
                    for p in store.live_processes()
                ]
            }
        )


def list_workspace_runs(req: Request) -> Response:
    authorize(req, "read_runs")
    store = req.app.store
    limit = parse_limit(req)
    with store.lock:
        runs = [
            render_run(store, r, False)
            for _, r in zip(
                range(limit), iter_runs(store, None, None, None), strict=False
            )
        ]
    return json_response(runs)


def list_process_runs(req: Request) -> Response:
    store = req.app.store
    limit = parse_limit(req)
    with store.lock:
        process = _process(req, "read_runs")
        runs = [
            render_run(store, r, False)
            for _, r in zip(
                range(limit), iter_runs(store, None, process, None), strict=False
            )
        ]
    return json_response({"data": runs})


def get_run(req: Request) -> Response:
    with req.app.store.lock:
        return json_response(
            render_run(
                req.app.store,
                _run(req, "read_runs"),
                req.query.get("embed") == "robotRuns",
            )
        )


def _started(run: Run) -> dict[str, Any]:
    return {"id": run.id, "workItemIds": []}


def _start_response(store: Store, run: Run | None) -> dict[str, Any]:
    assert run is not None
    return {"id": run.id, "workItemIds": [store.items.item_id(r) for r in run.items]}


def start_run(req: Request) -> Response:
    process = _process(req, "trigger_processes")
    body = req.json(default=None)
    # `[]`, `{}` and an empty body all mean "one empty work item"; any other JSON is that item's payload.
    payload = None if body in (None, [], {}) else body
    store = req.app.store
    with store.lock:
        return json_response(
            _start_response(store, store.create_run(process.id, payloads=[payload]))
        )


def start_batch(req: Request) -> Response:
    process = _process(req, "trigger_processes")
    body = req.json(default=None)
    if not isinstance(body, list) or not body:
        raise bad_request(
            "runs-batch expects a non-empty JSON array of payloads (one process run per element)"
        )
    store = req.app.store
    with store.lock:
        return json_response(
            [
                _start_response(store, store.create_run(process.id, payloads=[p]))
                for p in body
            ]
        )


def run_request(req: Request) -> Response:
    process = _process(req, "trigger_processes")
    body = req.json_object()
    kind = body.get("type", "default")
    store = req.app.store
    with store.lock:
        if kind == "default":
            run = store.create_run(process.id, with_inputs=True) or store.create_run(
                process.id
            )
        elif kind == "workItemIds":
            ids = body.get("workItemIds")
            if (
                not isinstance(ids, list)
                or not ids
                or not all(isinstance(i, str) for i in ids)
            ):
                raise bad_request(
                    "workItemIds must be a non-empty list of work item ids"
                )
            run = store.create_run(process.id, item_ids=ids)
        else:
            raise bad_request(
                f"Unknown run-request type {kind!r}; expected default or workItemIds"
            )
        return json_response(_start_response(store, run))


def list_run_items(req: Request) -> Response:
    store = req.app.store
    limit = parse_limit(req, 1000)
    with store.lock:
        run = _run(req, "read_work_items")
        rows = store.items.iter_rows_desc(run.items, range(5), None)
        if req.query.get("sortOrder", "desc").lower() == "asc":
            rows = iter(sorted(rows))
        data = [
            render_item(store, r, _include(req))
            for _, r in zip(range(limit), rows, strict=False)
        ]
    return json_response({"data": data})


def list_process_items(req: Request) -> Response:
    store = req.app.store
    limit = parse_limit(req, 1000)
    with store.lock:
        process = _process(req, "read_work_items")
        rows = store.items.iter_desc({process.idx}, range(5), None)
        data = [
            render_item(store, r, _include(req))
            for _, r in zip(range(limit), rows, strict=False)
        ]
    return json_response({"data": data})


def create_item(req: Request) -> Response:
    process = _process(req, "write_work_items")
    if req.query.get("bodyAsPayload", "").lower() == "true":
        payload = req.json(default=None)
    else:
        body = req.json_object()
        payload = body.get("payload")
    row = req.app.store.create_input_item(process, payload)
    return json_response({"id": req.app.store.items.item_id(row)})


def _item(req: Request, permission: str) -> int:
    process = _process(req, permission)
    store = req.app.store
    row = store.get_item(req.params["work_item_id"])
    if store.items.proc[row] != process.idx:
        raise not_found(
            f"Work item {req.params['work_item_id']} not found in process {process.id}"
        )
    return row


def get_item(req: Request) -> Response:
    store = req.app.store
    with store.lock:
        return json_response(
            render_item(store, _item(req, "read_work_items"), _include(req))
        )


def retry_item(req: Request) -> Response:
    store = req.app.store
    with store.lock:
        row = _item(req, "write_work_items")
        store.retry_single(row)
        return json_response(render_item(store, row, False))


def register_upload(req: Request) -> Response:
    store = req.app.store
    row = _item(req, "write_work_items")
    body = req.json_object()
    name, size = body.get("fileName"), body.get("fileSize")
    if (
        not isinstance(name, str)
        or isinstance(size, bool)
        or not isinstance(size, int | float)
    ):
        raise bad_request(
            "fileName (string) and fileSize (number of bytes) are required"
        )
    token = store.register_upload(row, name, int(size))
    return json_response(
        {
            "url": f"{req.base_url}/__uploads__/",
            "fields": upload_fields(store, row, name, token),
        }
    )


def get_robot_run(req: Request) -> Response:
    with req.app.store.lock:
        return json_response(
            render_robot_run(req.app.store, _robot_run(req, "read_runs"))
        )


def list_artifacts(req: Request) -> Response:
    with req.app.store.lock:
        step_run = _robot_run(req, "read_run_outputs")
        return json_response(
            [
                {"id": a.id, "fileName": a.name, "fileSize": len(a.data)}
                for a in step_run.artifacts or []
            ]
        )


def artifact_link(req: Request) -> Response:
    with req.app.store.lock:
        step_run = _robot_run(req, "read_run_outputs")
        for artifact in step_run.artifacts or []:
            if artifact.id == req.params["artifact_id"]:
                return json_response(
                    blob_url(req, step_run, artifact.id, artifact.name)
                )
    raise not_found(f"Artifact {req.params['artifact_id']} not found")


def list_messages(req: Request) -> Response:
    with req.app.store.lock:
        console = _robot_run(req, "read_run_outputs").console or []
        return json_response(
            [
                {"seqNo": i, "message": f"{iso(ts)} {msg}"}
                for i, (ts, msg) in enumerate(console)
            ]
        )


def list_events(req: Request) -> Response:
    with req.app.store.lock:
        events = _robot_run(req, "read_run_outputs").events or []
        return json_response(
            [
                {"seqNo": str(i), "timeStamp": iso(ts), "eventType": kind, "data": data}
                for i, (ts, kind, data) in enumerate(events)
            ]
        )


def register(router: Router) -> None:
    add = router.add
    add("GET", WS + "/processes", list_processes)
    add("GET", WS + "/pruns", list_workspace_runs)
    add("GET", P + "/runs", list_process_runs)
    add("POST", P + "/runs", start_run)
    add("POST", P + "/runs-batch", start_batch)
    add("POST", P + "/run-request", run_request)
    add("GET", P + "/runs/{run_id}", get_run)
    add("GET", P + "/runs/{run_id}/work-items", list_run_items)
    add("GET", RR, get_robot_run)
    add("GET", RR + "/artifacts", list_artifacts)
    add("GET", RR + "/artifacts/{artifact_id}/{file_name}", artifact_link)
    add("GET", RR + "/messages", list_messages)
    add("GET", RR + "/events", list_events)
    add("GET", P + "/work-items", list_process_items)
    add("POST", P + "/work-items", create_item)
    add("GET", P + "/work-items/{work_item_id}", get_item)
    add("POST", P + "/work-items/{work_item_id}/retry", retry_item)
    add("POST", P + "/work-items/{work_item_id}/files/upload", register_upload)


__all__ = ["conflict", "register"]
