"""v1 workers, worker groups, link tokens, task packages and assets; their admin hooks and blob/upload targets.

Shapes follow openapi-v1.json. Choices where Control Room is undocumented:
- a group link token's secret (`link_token`) is in the create answer only (the document's
  WorkerGroupLinkTokenResource has no secret; a token is shown once);
- `POST /__emulator__/workers {"link_token", "name"?}` plays a worker linking itself with a token;
- task package bytes go as a multipart POST to `/__uploads__/` with the `form_data` (like work item files),
  and download from `/__blobs__/task-packages/<id>` without auth (presigned-style); a download link of a
  package never uploaded is 404;
- asset uploads: `data` inline is base64 (as robocorp-storage sends it) → `completed` at once; without
  `data` → `pending` with an `upload_url` taking a raw PUT of the bytes; `application/json` content that
  does not parse fails (inline: 400; by PUT: upload `failed` with a reason). `{asset_id}` may be `name:<name>`.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Any

from .fleet import (
    MAX_ASSET_BYTES,
    Asset,
    AssetUpload,
    Fleet,
    LinkToken,
    TaskPackage,
    Worker,
    WorkerGroup,
    parse_datetime,
    remove_worker,
    set_worker_online,
)
from .routing import Request, Response, Router, authorize, json_response
from .store import EmulatorError, bad_request, not_found
from .v1 import list_page

W = "/api/v1/workspaces/{workspace_id}"
A = "/__emulator__"
MAX_NAME = 255


# ----------------------------------------------------------------------------------- renderers
def iso_expiry(ts: float) -> str:
    """RFC 3339 with a 4-digit year whatever the date (a client may send year 181)."""
    return (
        datetime.fromtimestamp(ts, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def render_worker(worker: Worker) -> dict[str, Any]:
    return {"id": worker.id, "name": worker.name, "state": worker.state}


def render_group(group: WorkerGroup) -> dict[str, Any]:
    return {"id": group.id, "name": group.name}


def render_group_token(token: LinkToken) -> dict[str, Any]:
    return {
        "id": token.id,
        "name": token.name,
        "expires_at": None
        if token.expires_at is None
        else iso_expiry(token.expires_at),
        "worker_group": {"id": token.group_id},
    }


def _name(body: dict[str, Any], field_name: str = "name") -> str:
    name = body.get(field_name)
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        raise bad_request(
            f"{field_name} must be a non-empty string of at most {MAX_NAME} characters"
        )
    return name.strip()


def _fleet(req: Request) -> Fleet:
    return req.app.store.fleet


def _worker(req: Request) -> Worker:
    worker = _fleet(req).workers.get(req.params["worker_id"])
    if worker is None:
        raise not_found(f"Worker {req.params['worker_id']} not found")
    return worker


def _group(req: Request) -> WorkerGroup:
    group = _fleet(req).groups.get(req.params["worker_group_id"])
    if group is None:
        raise not_found(f"Worker group {req.params['worker_group_id']} not found")
    return group


def _group_token(req: Request) -> LinkToken:
    group = _group(req)
    token = _fleet(req).link_tokens.get(req.params["link_token_id"])
    if token is None or token.group_id != group.id:
        raise not_found(f"Link token {req.params['link_token_id']} not found")
    return token


def _expires(body: dict[str, Any], *, nullable: bool) -> float | None:
    if "expires_at" not in body:
        raise bad_request("expires_at is required (an RFC 3339 date-time)")
    try:
        return parse_datetime(body["expires_at"], "expires_at", nullable=nullable)
    except ValueError as exc:
        raise bad_request(str(exc)) from None


def _paged(req: Request, values: list[Any], render: Any) -> Response:
    return list_page(req, values, render, newest_first=False)


# ----------------------------------------------------------------------------------- workers
def list_workers(req: Request) -> Response:
    authorize(req, "read_workers")
    with req.app.store.lock:
        workers = sorted(_fleet(req).workers.values(), key=lambda w: (w.name, w.id))
        return _paged(req, workers, render_worker)


def get_worker(req: Request) -> Response:
    authorize(req, "read_workers")
    with req.app.store.lock:
        return json_response(render_worker(_worker(req)))


def update_worker(req: Request) -> Response:
    authorize(req, "write_workers")
    body = req.json_object()
    with req.app.store.lock:
        worker = _worker(req)
        worker.name = _name(body)
        return json_response(render_worker(worker))


def delete_worker(req: Request) -> Response:
    authorize(req, "write_workers")
    store = req.app.store
    with store.lock:
        worker = _worker(req)
        remove_worker(store, worker)
    return json_response({"id": worker.id, "deleted": True})


def create_workspace_link_token(req: Request) -> Response:
    authorize(req, "write_workers")
    body = req.json_object()
    expires = _expires(body, nullable=False)
    assert expires is not None
    with req.app.store.lock:
        token = _fleet(req).add_link_token("workspace link token", expires, None)
        return json_response(
            {
                "id": token.id,
                "expires_at": iso_expiry(expires),
                "link_token": token.token,
            }
        )


# ----------------------------------------------------------------------------------- worker groups
def list_groups(req: Request) -> Response:
    authorize(req, "read_workers")
    with req.app.store.lock:
        groups = sorted(_fleet(req).groups.values(), key=lambda g: (g.name, g.id))
        return _paged(req, groups, render_group)


def create_group(req: Request) -> Response:
    authorize(req, "write_workers")
    name = _name(req.json_object())
    with req.app.store.lock:
        return json_response(render_group(_fleet(req).add_group(name)))


def get_group(req: Request) -> Response:
    authorize(req, "read_workers")
    with req.app.store.lock:
        return json_response(render_group(_group(req)))


def update_group(req: Request) -> Response:
    authorize(req, "write_workers")
    body = req.json_object()
    with req.app.store.lock:
        group = _group(req)
        group.name = _name(body)
        return json_response(render_group(group))


def delete_group(req: Request) -> Response:
    authorize(req, "write_workers")
    with req.app.store.lock:
        fleet = _fleet(req)
        group = _group(req)
        del fleet.groups[group.id]
        for worker in fleet.workers.values():
            if group.id in worker.groups:
                worker.groups.remove(group.id)
        for token_id in [
            t.id for t in fleet.link_tokens.values() if t.group_id == group.id
        ]:
            del fleet.link_tokens[token_id]
    return json_response({"id": group.id, "deleted": True})


def add_worker_to_group(req: Request) -> Response:
    authorize(req, "write_workers")
    body = req.json_object()
    ref = body.get("worker")
    if not isinstance(ref, dict) or not isinstance(ref.get("id"), str):
        raise bad_request('worker must be an object {"id": <worker id>}')
    with req.app.store.lock:
        fleet = _fleet(req)
        group = _group(req)
        worker = fleet.workers.get(ref["id"])
        if worker is None:
            raise not_found(f"Worker {ref['id']} not found")
        if group.id not in worker.groups:
            worker.groups.append(group.id)
        return json_response(fleet.group_listing(worker))


def remove_worker_from_group(req: Request) -> Response:
    authorize(req, "write_workers")
    with req.app.store.lock:
        fleet = _fleet(req)
        group = _group(req)
        worker = _worker(req)
        if group.id not in worker.groups:
            raise not_found(f"Worker {worker.id} is not in worker group {group.id}")
        worker.groups.remove(group.id)
        return json_response(fleet.group_listing(worker))


def list_group_tokens(req: Request) -> Response:
    authorize(req, "read_workers")
    with req.app.store.lock:
        group = _group(req)
        tokens = [t for t in _fleet(req).link_tokens.values() if t.group_id == group.id]
        return _paged(req, tokens, render_group_token)


def create_group_token(req: Request) -> Response:
    authorize(req, "write_workers")
    body = req.json_object()
    name = _name(body)
    expires = _expires(body, nullable=True)
    with req.app.store.lock:
        group = _group(req)
        token = _fleet(req).add_link_token(name, expires, group.id)
        return json_response({**render_group_token(token), "link_token": token.token})


def get_group_token(req: Request) -> Response:
    authorize(req, "read_workers")
    with req.app.store.lock:
        return json_response(render_group_token(_group_token(req)))


def update_group_token(req: Request) -> Response:
    authorize(req, "write_workers")
    body = req.json_object()
    name = _name(body)
    expires = _expires(body, nullable=True)
    with req.app.store.lock:
        token = _group_token(req)
        token.name, token.expires_at = name, expires
        return json_response(render_group_token(token))


def delete_group_token(req: Request) -> Response:
    authorize(req, "write_workers")
    with req.app.store.lock:
        token = _group_token(req)
        del _fleet(req).link_tokens[token.id]
    return json_response({"id": token.id, "deleted": True})


# ----------------------------------------------------------------------------------- task packages
def _package(req: Request) -> TaskPackage:
    package = _fleet(req).packages.get(req.params["task_package_id"])
    if package is None:
        raise not_found(f"Task package {req.params['task_package_id']} not found")
    return package


def create_package(req: Request) -> Response:
    authorize(req, "write_task_packages")
    name = _name(req.json_object())
    with req.app.store.lock:
        fleet = _fleet(req)
        package = TaskPackage(fleet.uuid(), name)
        fleet.packages[package.id] = package
        return json_response({"id": package.id, "name": package.name})


def package_upload_link(req: Request) -> Response:
    authorize(req, "write_task_packages")
    with req.app.store.lock:
        package = _package(req)
        token = _fleet(req).uuid().replace("-", "")
        _fleet(req).package_uploads[token] = package.id
    return json_response(
        {
            "url": f"{req.base_url}/__uploads__/",
            "form_data": {
                "key": f"task-packages/{package.id}/package.zip",
                "Content-Type": "application/zip",
                "x-emulator-token": token,
            },
        }
    )


def package_download_link(req: Request) -> Response:
    authorize(req, "read_task_packages")
    with req.app.store.lock:
        package = _package(req)
        if package.data is None:
            raise not_found(f"Task package {package.id} has no uploaded bundle yet")
    return json_response(
        {"url": f"{req.base_url}/__blobs__/task-packages/{package.id}"}
    )


def delete_package(req: Request) -> Response:
    authorize(req, "write_task_packages")
    with req.app.store.lock:
        package = _package(req)
        del _fleet(req).packages[package.id]
    return json_response({"id": package.id, "deleted": True})


def complete_package_upload(req: Request, token: str, data: bytes) -> bool:
    """The multipart upload of a task package bundle; False when `token` is not a package upload."""
    with req.app.store.lock:
        fleet = _fleet(req)
        package_id = fleet.package_uploads.pop(token, None)
        if package_id is None:
            return False
        package = fleet.packages.get(package_id)
        if package is None:
            raise not_found("The task package of this upload no longer exists")
        package.data = data
        return True


def package_blob(req: Request) -> Response:
    with req.app.store.lock:
        package = _fleet(req).packages.get(req.params["task_package_id"])
        if package is None or package.data is None:
            raise not_found("Task package bundle not found")
        return Response(200, package.data, "application/zip")


# ----------------------------------------------------------------------------------- assets
def _asset(req: Request) -> Asset:
    ref = req.params["asset_id"]
    assets = _fleet(req).assets
    if ref.startswith("name:"):
        found = next((a for a in assets.values() if a.name == ref[5:]), None)
    else:
        found = assets.get(ref)
    if found is None:
        raise not_found(f"Asset {ref} not found")
    return found


def render_asset(req: Request, asset: Asset) -> dict[str, Any]:
    payload: dict[str, Any] = {"type": "empty"}
    if asset.data is not None:
        payload = {
            "type": "url",
            "content_type": asset.content_type,
            "url": f"{req.base_url}/__blobs__/assets/{asset.id}/{asset.version}",
        }
    return {"id": asset.id, "name": asset.name, "payload": payload}


def list_assets(req: Request) -> Response:
    authorize(req, "read_asset_storage_assets")
    with req.app.store.lock:
        assets = sorted(_fleet(req).assets.values(), key=lambda a: (a.name, a.id))
        return json_response({"data": [{"id": a.id, "name": a.name} for a in assets]})


def create_asset(req: Request) -> Response:
    authorize(req, "write_asset_storage_assets")
    name = _name(req.json_object())
    with req.app.store.lock:
        fleet = _fleet(req)
        if any(a.name == name for a in fleet.assets.values()):
            raise bad_request(f"An asset named {name!r} already exists", "asset_exists")
        asset = Asset(fleet.uuid(), name)
        fleet.assets[asset.id] = asset
        return json_response(
            {"id": asset.id, "name": asset.name, "payload": {"type": "empty"}}
        )


def get_asset(req: Request) -> Response:
    authorize(req, "read_asset_storage_assets")
    with req.app.store.lock:
        return json_response(render_asset(req, _asset(req)))


def delete_asset(req: Request) -> Response:
    authorize(req, "write_asset_storage_assets")
    with req.app.store.lock:
        asset = _asset(req)
        del _fleet(req).assets[asset.id]
    return json_response({"id": asset.id, "deleted": True})


def _json_problem(content_type: str, data: bytes) -> str | None:
    if content_type.split(";")[0].strip().lower() != "application/json":
        return None
    try:
        json.loads(data)
    except (UnicodeDecodeError, ValueError) as exc:
        return f"The content is not valid JSON: {exc}"
    return None


def _store_asset(asset: Asset, content_type: str, data: bytes) -> None:
    asset.content_type, asset.data = content_type, data
    asset.version += 1


def create_asset_upload(req: Request) -> Response:
    authorize(req, "write_asset_storage_assets")
    body = req.json_object()
    content_type, data = body.get("content_type"), body.get("data")
    if not isinstance(content_type, str) or not content_type.strip():
        raise bad_request(
            "content_type is required (a MIME type such as application/json)"
        )
    if data is not None and not isinstance(data, str):
        raise bad_request("data must be a base64 string")
    with req.app.store.lock:
        fleet = _fleet(req)
        asset = _asset(req)
        upload = AssetUpload(
            fleet.uuid(),
            asset.id,
            content_type,
            "pending",
            fleet.uuid().replace("-", ""),
        )
        if data is not None:
            try:
                raw = base64.b64decode(data, validate=True)
            except (binascii.Error, ValueError):
                raise bad_request("data must be base64-encoded content") from None
            problem = _json_problem(content_type, raw)
            if problem:
                raise bad_request(problem, "invalid_content")
            _store_asset(asset, content_type, raw)
            upload.status = "completed"
            fleet.asset_uploads[upload.id] = upload
            return json_response(
                {"id": upload.id, "status": "completed", "content_type": content_type}
            )
        fleet.asset_uploads[upload.id] = upload
        return json_response(
            {
                "id": upload.id,
                "status": "pending",
                "content_type": content_type,
                "upload_url": f"{req.base_url}/__uploads__/assets/{upload.token}",
            }
        )


def get_asset_upload(req: Request) -> Response:
    authorize(req, "write_asset_storage_assets")
    with req.app.store.lock:
        asset = _asset(req)
        upload = _fleet(req).asset_uploads.get(req.params["upload_id"])
        if upload is None or upload.asset_id != asset.id:
            raise not_found(f"Upload {req.params['upload_id']} not found")
        data: dict[str, Any] = {
            "id": upload.id,
            "status": upload.status,
            "content_type": upload.content_type,
        }
        if upload.status == "failed":
            data["reason"] = upload.reason or "failed"
        return json_response(data)


def put_asset_bytes(req: Request) -> Response:
    """The raw PUT of an asset's content to its `upload_url` (no auth: the token is the capability)."""
    if len(req.body) > MAX_ASSET_BYTES:
        raise bad_request(f"Asset content over {MAX_ASSET_BYTES} bytes")
    with req.app.store.lock:
        fleet = _fleet(req)
        upload = next(
            (
                u
                for u in fleet.asset_uploads.values()
                if u.token == req.params["token"] and u.status == "pending"
            ),
            None,
        )
        if upload is None:
            raise EmulatorError(
                403, "invalid_upload_token", "Upload token is unknown or already used"
            )
        asset = fleet.assets.get(upload.asset_id)
        if asset is None:
            upload.status, upload.reason = "failed", "The asset was deleted"
        else:
            problem = _json_problem(upload.content_type, req.body)
            if problem:
                upload.status, upload.reason = "failed", problem
            else:
                _store_asset(asset, upload.content_type, req.body)
                upload.status = "completed"
    return Response(200, b"")


def asset_blob(req: Request) -> Response:
    with req.app.store.lock:
        asset = _fleet(req).assets.get(req.params["asset_id"])
        if (
            asset is None
            or asset.data is None
            or str(asset.version) != req.params["version"]
        ):
            raise not_found("Asset content not found")
        return Response(
            200, asset.data, asset.content_type or "application/octet-stream"
        )


# ----------------------------------------------------------------------------------- admin hooks
def render_admin_worker(fleet: Fleet, worker: Worker) -> dict[str, Any]:
    return {
        **render_worker(worker),
        "online": worker.online,
        "worker_groups": [
            render_group(fleet.groups[g]) for g in worker.groups if g in fleet.groups
        ],
        "running_step_runs": len(worker.running),
    }


def admin_workers(req: Request) -> Response:
    store = req.app.store
    with store.lock:
        fleet = store.fleet
        return json_response(
            {
                "data": [render_admin_worker(fleet, w) for w in fleet.workers.values()],
                "processes": {
                    p.id: fleet.group_of(p.idx)
                    for p in store.processes
                    if not p.deleted
                },
            }
        )


def admin_link_worker(req: Request) -> Response:
    """A worker links itself with a link token (workspace or group): a new online worker."""
    body = req.json_object()
    secret = body.get("link_token")
    if not isinstance(secret, str) or not secret:
        raise bad_request("link_token is required")
    store = req.app.store
    with store.lock:
        fleet = store.fleet
        token = fleet.token_by_secret(secret, store.now())
        if token is None:
            raise EmulatorError(
                403, "invalid_link_token", "Link token is unknown or expired"
            )
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            name = f"worker-linked-{len(fleet.workers) + 1:02d}"
        token.used += 1
        groups = [] if token.group_id is None else [token.group_id]
        worker = fleet.add_worker(name.strip(), groups, now=store.now())
        return json_response(render_admin_worker(fleet, worker))


def admin_set_worker(req: Request) -> Response:
    """`{"online": bool}`: take a worker (id or name) offline or bring it back."""
    body = req.json_object()
    online = body.get("online")
    if not isinstance(online, bool):
        raise bad_request("online must be a boolean")
    store = req.app.store
    with store.lock:
        worker = store.fleet.find_worker(req.params["worker_id"])
        if worker is None:
            raise not_found(f"Worker {req.params['worker_id']} not found")
        set_worker_online(store, worker, online)
        return json_response(render_admin_worker(store.fleet, worker))


def admin_set_process_group(req: Request) -> Response:
    """`{"worker_group_id": id}`: the worker group a process's step runs run on."""
    group_id = req.json_object().get("worker_group_id")
    store = req.app.store
    with store.lock:
        process = store.get_process(req.params["process_id"])
        if not isinstance(group_id, str) or group_id not in store.fleet.groups:
            raise bad_request(
                "worker_group_id must be the id of an existing worker group"
            )
        store.fleet.process_group[process.idx] = group_id
        return json_response(
            {"process": {"id": process.id}, "worker_group": {"id": group_id}}
        )


def register(router: Router) -> None:
    add = router.add
    add("GET", W + "/workers", list_workers)
    add("POST", W + "/workers/link-tokens", create_workspace_link_token)
    add("GET", W + "/workers/{worker_id}", get_worker)
    add("PUT", W + "/workers/{worker_id}", update_worker)
    add("DELETE", W + "/workers/{worker_id}", delete_worker)
    add("GET", W + "/worker-groups", list_groups)
    add("POST", W + "/worker-groups", create_group)
    add("GET", W + "/worker-groups/{worker_group_id}", get_group)
    add("PUT", W + "/worker-groups/{worker_group_id}", update_group)
    add("DELETE", W + "/worker-groups/{worker_group_id}", delete_group)
    add("PUT", W + "/worker-groups/{worker_group_id}/workers", add_worker_to_group)
    add(
        "DELETE",
        W + "/worker-groups/{worker_group_id}/workers/{worker_id}",
        remove_worker_from_group,
    )
    add("GET", W + "/worker-groups/{worker_group_id}/link-tokens", list_group_tokens)
    add("POST", W + "/worker-groups/{worker_group_id}/link-tokens", create_group_token)
    add(
        "GET",
        W + "/worker-groups/{worker_group_id}/link-tokens/{link_token_id}",
        get_group_token,
    )
    add(
        "PUT",
        W + "/worker-groups/{worker_group_id}/link-tokens/{link_token_id}",
        update_group_token,
    )
    add(
        "DELETE",
        W + "/worker-groups/{worker_group_id}/link-tokens/{link_token_id}",
        delete_group_token,
    )
    add("POST", W + "/task-packages", create_package)
    add("GET", W + "/task-packages/{task_package_id}/upload", package_upload_link)
    add("GET", W + "/task-packages/{task_package_id}/download", package_download_link)
    add("DELETE", W + "/task-packages/{task_package_id}", delete_package)
    add("GET", W + "/assets", list_assets)
    add("POST", W + "/assets", create_asset)
    add("GET", W + "/assets/{asset_id}", get_asset)
    add("DELETE", W + "/assets/{asset_id}", delete_asset)
    add("POST", W + "/assets/{asset_id}/uploads", create_asset_upload)
    add("GET", W + "/assets/{asset_id}/uploads/{upload_id}", get_asset_upload)
    add("GET", A + "/workers", admin_workers)
    add("POST", A + "/workers", admin_link_worker)
    add("POST", A + "/workers/{worker_id}", admin_set_worker)
    add("POST", A + "/processes/{process_id}", admin_set_process_group)
    add("GET", "/__blobs__/task-packages/{task_package_id}", package_blob)
    add("GET", "/__blobs__/assets/{asset_id}/{version}", asset_blob)
    add("PUT", "/__uploads__/assets/{token}", put_asset_bytes)
