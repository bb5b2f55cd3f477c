"""Emulator controls under `/__emulator__/` (no auth), presigned-style blob downloads and the upload target."""

from __future__ import annotations

from typing import Any

from .faults import parse_rule
from .fleet_api import complete_package_upload
from .routing import Request, Response, Router, json_response
from .store import EmulatorError, Store, bad_request, check_schedule_every, not_found

A = "/__emulator__"


def info(req: Request) -> Response:
    app = req.app
    return json_response(
        {
            "url": req.base_url,
            "api_base_url": req.base_url + "/api/v1",
            "legacy_base_url": req.base_url + "/process-v1",
            "workspace_id": app.store.workspace_id,
            "api_key": app.api_key,
            "speed": app.store.clock.speed,
            "robots_paused": not app.store.clock.running,
            **_schedule(app.store),
        }
    )


def _schedule(store: Store) -> dict[str, Any]:
    with store.lock:
        return {
            "schedule_every": store.schedule_every,
            "schedule_next_at": store.schedule_next,
        }


def create_key(req: Request) -> Response:
    body = req.json_object()
    permissions = body.get("permissions")
    if not isinstance(permissions, list) or not all(
        isinstance(p, str) for p in permissions
    ):
        raise bad_request("permissions must be a list of permission names")
    try:
        key = req.app.store.add_key(permissions)
    except ValueError as exc:
        raise bad_request(str(exc)) from None
    return json_response({"key": key, "permissions": sorted(req.app.store.keys[key])})


def list_faults(req: Request) -> Response:
    return json_response({"data": [r.to_dict() for r in req.app.faults.rules()]})


def add_faults(req: Request) -> Response:
    body = req.json(default=None)
    specs: list[Any] = body if isinstance(body, list) else [body]
    try:
        rules = [parse_rule(spec) for spec in specs]
    except (ValueError, TypeError) as exc:
        raise bad_request(f"Invalid fault rule: {exc}") from None
    if "seed" in req.query:
        req.app.faults.reseed(int(req.query["seed"]))
    for rule in rules:
        req.app.faults.add(_spec(rule))
    return json_response({"data": [r.to_dict() for r in req.app.faults.rules()]})


def _spec(rule: Any) -> dict[str, Any]:
    data: dict[str, Any] = rule.to_dict()
    data.pop("id")
    data.pop("hits")
    return data


def clear_faults(req: Request) -> Response:
    req.app.faults.clear()
    return json_response({"data": []})


def delete_fault(req: Request) -> Response:
    if not req.app.faults.remove(req.params["rule_id"]):
        raise not_found(f"Fault rule {req.params['rule_id']} not found")
    return json_response({"id": req.params["rule_id"], "deleted": True})


def stats(req: Request) -> Response:
    return json_response(req.app.stats.snapshot())


def reset_stats(req: Request) -> Response:
    req.app.stats.reset()
    return json_response(req.app.stats.snapshot())


def robots(req: Request) -> Response:
    body = req.json_object()
    paused, speed = body.get("paused"), body.get("speed")
    every = body.get("schedule_every")
    if every is not None:
        if isinstance(every, bool) or not isinstance(every, int | float):
            raise bad_request("schedule_every must be a number of simulated seconds")
        try:
            check_schedule_every(every)
        except ValueError as exc:
            raise bad_request(str(exc)) from None
    if speed is not None:
        if isinstance(speed, bool) or not isinstance(speed, int | float) or speed <= 0:
            raise bad_request("speed must be a positive number")
        req.app.store.clock.set_speed(float(speed))
    if paused is not None:
        if not isinstance(paused, bool):
            raise bad_request("paused must be a boolean")
        (req.app.robots.pause if paused else req.app.robots.resume)()
    if every is not None:
        req.app.store.set_schedule(every)
    return json_response(
        {
            "paused": not req.app.store.clock.running,
            "speed": req.app.store.clock.speed,
            **_schedule(req.app.store),
        }
    )


def advance(req: Request) -> Response:
    seconds = req.json_object().get("seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
        raise bad_request("seconds must be a non-negative number")
    req.app.robots.advance(float(seconds))
    return json_response({"now": req.app.store.clock.now()})


def deliveries(req: Request) -> Response:
    return json_response({"data": req.app.dispatcher.deliveries()})


def save(req: Request) -> Response:
    if req.app.state_file is None:
        raise bad_request("The emulator was started without --state")
    req.app.store.save(req.app.state_file)
    return json_response({"saved": str(req.app.state_file)})


def artifact_blob(req: Request) -> Response:
    store = req.app.store
    with store.lock:
        idx = store.step_run_by_id.get(req.params["step_run_id"])
        if idx is None:
            raise not_found("Artifact not found")
        step_run = store.step_runs[idx]
        store.step_run_outputs(step_run)
        for artifact in step_run.artifacts or []:
            if artifact.id == req.params["artifact_id"]:
                return Response(200, artifact.data, _content_type(artifact.name))
    raise not_found("Artifact not found")


def file_blob(req: Request) -> Response:
    found = req.app.store.blobs.get(req.params["file_id"])
    if found is None:
        raise not_found("File not found")
    return Response(200, found[1], _content_type(found[0]))


def _content_type(name: str) -> str:
    for suffix, kind in (
        (".html", "text/html; charset=utf-8"),
        (".log", "text/plain; charset=utf-8"),
        (".csv", "text/csv"),
        (".png", "image/png"),
    ):
        if name.endswith(suffix):
            return kind
    return "application/octet-stream"


def parse_multipart(
    content_type: str, body: bytes
) -> tuple[dict[str, str], tuple[str, bytes] | None]:
    """Form fields and the (filename, bytes) of the `file` part; binary-safe (split on the boundary)."""
    boundary = ""
    for part in content_type.split(";")[1:]:
        name, _, value = part.strip().partition("=")
        if name.lower() == "boundary":
            boundary = value.strip('"')
    if not content_type.lower().startswith("multipart/form-data") or not boundary:
        raise bad_request("Expected a multipart/form-data body with a boundary")
    fields: dict[str, str] = {}
    upload: tuple[str, bytes] | None = None
    delimiter = b"--" + boundary.encode()
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        head, sep, content = chunk.partition(b"\r\n\r\n")
        if not sep:
            raise bad_request("Malformed multipart part")
        content = content[:-2] if content.endswith(b"\r\n") else content
        disposition = ""
        for line in head.decode("utf-8", "replace").split("\r\n"):
            if line.lower().startswith("content-disposition:"):
                disposition = line.split(":", 1)[1]
        params = {}
        for item in disposition.split(";")[1:]:
            key, _, value = item.strip().partition("=")
            params[key.lower()] = value.strip('"')
        if "filename" in params or params.get("name") == "file":
            upload = (params.get("filename") or "file", content)
        elif "name" in params:
            fields[params["name"]] = content.decode("utf-8", "replace")
    return fields, upload


def upload(req: Request) -> Response:
    fields, part = parse_multipart(req.headers.get("Content-Type") or "", req.body)
    token = fields.get("x-emulator-token")
    if not token:
        raise EmulatorError(
            403, "invalid_upload_token", "The x-emulator-token form field is missing"
        )
    if part is None:
        raise bad_request("The multipart body has no 'file' part")
    if not complete_package_upload(req, token, part[1]):
        req.app.store.complete_upload(token, part[1])
    return Response(204, b"")


def register(router: Router) -> None:
    router.add("GET", A + "/info", info)
    router.add("POST", A + "/keys", create_key)
    router.add("GET", A + "/faults", list_faults)
    router.add("POST", A + "/faults", add_faults)
    router.add("DELETE", A + "/faults", clear_faults)
    router.add("DELETE", A + "/faults/{rule_id}", delete_fault)
    router.add("GET", A + "/stats", stats)
    router.add("DELETE", A + "/stats", reset_stats)
    router.add("POST", A + "/robots", robots)
    router.add("POST", A + "/advance", advance)
    router.add("GET", A + "/deliveries", deliveries)
    router.add("POST", A + "/save", save)
    router.add(
        "GET", "/__blobs__/artifacts/{step_run_id}/{artifact_id}/{name}", artifact_blob
    )
    router.add("GET", "/__blobs__/files/{file_id}", file_blob)
    router.add("POST", "/__uploads__", upload)
