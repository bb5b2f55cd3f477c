"""Worker groups and link tokens, task packages and assets: every change goes through here.

Each function takes an `Actor`, calls Control Room, and records an audit event whether it
worked or not. Secrets (a link token, an asset's contents) never reach the audit trail or logs:
the audit data names the object and the size of what was sent, nothing more.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any, BinaryIO, cast

from django.utils import timezone

from dashboard.audit import services as audit
from dashboard.audit.services import Actor
from dashboard.fleet.models import TaskPackage
from dashboard.lib import secretbox
from dashboard.lib.errors import WorkroomError
from dashboard.mirror.services import workers as mirror_workers
from dashboard.workspaces.errors import describe
from dashboard.workspaces.models import Workspace
from dashboard.workspaces.services import build_client
from robocorp_api import errors as cr
from robocorp_api import models as api
from robocorp_api.client import ControlRoomClient
from robocorp_api.resources import AssetUploadFailed

INTERACTIVE: dict[str, Any] = {"max_retries": 1, "backoff_max": 1.0, "timeout": (3, 30)}
READ_WORKERS = "Workers.read_workers"
WRITE_WORKERS = "Workers.write_workers"
READ_PACKAGES = "Tasks.read_task_packages"
WRITE_PACKAGES = "Tasks.write_task_packages"
READ_ASSETS = "Assets.read_asset_storage_assets"
WRITE_ASSETS = "Assets.write_asset_storage_assets"
MAX_ASSET_BYTES = 20 * 1024 * 1024
JSON_TYPES = ("application/json",)


class FleetActionFailed(WorkroomError):
    """Control Room refused or could not be reached; `message` is for the operator."""

    def __init__(self, message: str, *, not_found: bool = False) -> None:
        super().__init__(message)
        self.not_found = not_found


def _client(workspace: Workspace, needs: str) -> ControlRoomClient:
    try:
        return build_client(workspace, **INTERACTIVE)
    except secretbox.SecretUnavailable as err:
        raise FleetActionFailed(describe(err, needs=needs)) from None


def _record(
    actor: Actor, workspace: Workspace, action: str, summary: str, **data: Any
) -> None:
    audit.record_by(
        actor,
        team=workspace.team,
        action=action,
        obj=workspace,
        summary=summary,
        data={"workspace_id": workspace.pk, **data},
    )


def _failed(
    actor: Actor,
    workspace: Workspace,
    action: str,
    what: str,
    err: cr.ControlRoomError,
    *,
    needs: str,
    thing: str,
    **data: Any,
) -> FleetActionFailed:
    _record(actor, workspace, action, f"{what} failed", outcome="failed",
            error=type(err).__name__, status=err.status, **data)  # fmt: skip
    return FleetActionFailed(describe(err, needs=needs, thing=thing))


# --- workers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Change:
    """One change made in Control Room: its audit action, what is said when it fails and
    when it worked, what a 404 is about, and the permission it needs."""

    action: str
    attempt: str
    done: str
    thing: str
    needs: str


def _change(
    workspace: Workspace,
    actor: Actor,
    change: _Change,
    call: Callable[[ControlRoomClient], object],
    **data: Any,
) -> None:
    """Make the change; audit it either way; a refusal becomes FleetActionFailed."""
    try:
        with _client(workspace, change.needs) as client:
            call(client)
    except cr.ControlRoomError as err:
        raise _failed(actor, workspace, change.action, change.attempt, err,
                      needs=change.needs, thing=change.thing, **data) from None  # fmt: skip
    _record(actor, workspace, change.action, change.done, outcome="done", **data)


def refresh_workers(workspace: Workspace) -> str:
    """Read workers and groups into the mirror now; returns an operator message on failure."""
    try:
        with _client(workspace, READ_WORKERS) as client:
            if not mirror_workers.read_now(workspace, client):
                return describe(cr.PermissionDenied("403"), needs=READ_WORKERS)
    except FleetActionFailed as err:
        return err.message
    except cr.ControlRoomError as err:
        return describe(err, needs=READ_WORKERS, thing="worker")
    return ""


@dataclass(frozen=True)
class GroupView:
    group: api.WorkerGroup
    tokens: list[api.WorkerGroupLinkToken]


def list_groups(workspace: Workspace) -> list[GroupView]:
    """Worker groups with their link tokens, read live (tokens are not mirrored)."""
    try:
        with _client(workspace, READ_WORKERS) as client:
            return [
                GroupView(group, list(client.worker_groups.link_tokens(group.id)))
                for group in client.worker_groups.list()
            ]
    except cr.ControlRoomError as err:
        raise FleetActionFailed(
            describe(err, needs=READ_WORKERS, thing="worker group")
        ) from None


def create_group(workspace: Workspace, name: str, actor: Actor) -> api.WorkerGroup:
    action = "fleet.group_create"
    try:
        with _client(workspace, WRITE_WORKERS) as client:
            group = client.worker_groups.create(name)
    except cr.ControlRoomError as err:
        raise _failed(actor, workspace, action, f"Creating worker group {name!r}", err,
                      needs=WRITE_WORKERS, thing="worker group", name=name) from None  # fmt: skip
    _record(actor, workspace, action, f"Created worker group {name!r}",
            outcome="done", group_id=group.id, name=name)  # fmt: skip
    return group


def delete_group(workspace: Workspace, group_id: str, actor: Actor) -> None:
    change = _Change("fleet.group_delete", f"Deleting worker group {group_id}",
                     f"Deleted worker group {group_id}", "worker group", WRITE_WORKERS)  # fmt: skip
    _change(workspace, actor, change, lambda c: c.worker_groups.delete(group_id),
            group_id=group_id)  # fmt: skip
    refresh_workers(workspace)


def rename_group(workspace: Workspace, group_id: str, name: str, actor: Actor) -> None:
    change = _Change("fleet.group_rename", f"Renaming worker group {group_id}",
                     f"Renamed worker group {group_id} to {name!r}", "worker group",
                     WRITE_WORKERS)  # fmt: skip
    _change(workspace, actor, change, lambda c: c.worker_groups.rename(group_id, name),
            group_id=group_id, name=name)  # fmt: skip
    refresh_workers(workspace)


def rename_worker(
    workspace: Workspace, worker_id: str, name: str, actor: Actor
) -> None:
    change = _Change("fleet.worker_rename", f"Renaming worker {worker_id}",
                     f"Renamed worker {worker_id} to {name!r}", "worker", WRITE_WORKERS)  # fmt: skip
    _change(workspace, actor, change, lambda c: c.workers.rename(worker_id, name),
            worker_id=worker_id, name=name)  # fmt: skip
    refresh_workers(workspace)


def delete_worker(workspace: Workspace, worker_id: str, actor: Actor) -> None:
    change = _Change("fleet.worker_delete", f"Removing worker {worker_id}",
                     f"Removed worker {worker_id} from the workspace", "worker",
                     WRITE_WORKERS)  # fmt: skip
    _change(workspace, actor, change, lambda c: c.workers.delete(worker_id),
            worker_id=worker_id)  # fmt: skip
    refresh_workers(workspace)


def create_workspace_link_token(
    workspace: Workspace, expires_at: datetime, actor: Actor
) -> str:
    """A workspace link token (a worker in no group); returns the secret, shown once."""
    action = "fleet.link_token_create"
    try:
        with _client(workspace, WRITE_WORKERS) as client:
            token = client.workers.create_link_token(expires_at=expires_at)
    except cr.ControlRoomError as err:
        raise _failed(actor, workspace, action, "Creating a workspace link token", err,
                      needs=WRITE_WORKERS, thing="link token") from None  # fmt: skip
    _record(actor, workspace, action, "Created a workspace link token",
            outcome="done", token_id=token.id, expires_at=expires_at.isoformat())  # fmt: skip
    return token.link_token


def set_membership(
    workspace: Workspace, group_id: str, worker_id: str, *, member: bool, actor: Actor
) -> None:
    """Add a worker to a group or remove it; the answer (its groups now) goes to the mirror."""
    action = "fleet.group_add_worker" if member else "fleet.group_remove_worker"
    verb = "Adding" if member else "Removing"
    try:
        with _client(workspace, WRITE_WORKERS) as client:
            groups = client.worker_groups
            change = groups.add_worker if member else groups.remove_worker
            membership = change(group_id, worker_id)
    except cr.ControlRoomError as err:
        raise _failed(actor, workspace, action, f"{verb} worker {worker_id}", err,
                      needs=WRITE_WORKERS, thing="worker or group",
                      group_id=group_id, worker_id=worker_id) from None  # fmt: skip
    mirror_workers.record_groups(workspace, membership)
    done = "Added worker to" if member else "Removed worker from"
    _record(actor, workspace, action, f"{done} worker group {group_id}",
            outcome="done", group_id=group_id, worker_id=worker_id)  # fmt: skip


def create_link_token(
    workspace: Workspace,
    group_id: str,
    *,
    name: str,
    expires_at: datetime | None,
    actor: Actor,
) -> str:
    """Create a link token for a group and return its secret (to show once, never stored)."""
    action = "fleet.link_token_create"
    try:
        with _client(workspace, WRITE_WORKERS) as client:
            token = client.worker_groups.create_link_token(
                group_id, name=name, expires_at=expires_at
            )
    except cr.ControlRoomError as err:
        raise _failed(actor, workspace, action, f"Creating link token {name!r}", err,
                      needs=WRITE_WORKERS, thing="worker group", group_id=group_id) from None  # fmt: skip
    _record(actor, workspace, action, f"Created link token {name!r} for worker group {group_id}",
            outcome="done", group_id=group_id, token_id=token.id,
            expires_at=None if expires_at is None else expires_at.isoformat())  # fmt: skip
    if not token.link_token:
        raise FleetActionFailed(
            "Control Room created the link token but did not return its secret; "
            "delete it and create another."
        )
    return token.link_token


def update_link_token(
    workspace: Workspace,
    group_id: str,
    token_id: str,
    *,
    name: str,
    expires_at: datetime | None,
    actor: Actor,
) -> None:
    """Rename a group's link token or change its expiry."""
    change = _Change("fleet.link_token_update", f"Changing link token {token_id}",
                     f"Changed link token {token_id} ({name!r})", "link token",
                     WRITE_WORKERS)  # fmt: skip
    _change(
        workspace,
        actor,
        change,
        lambda c: c.worker_groups.update_link_token(
            group_id, token_id, name=name, expires_at=expires_at
        ),
        group_id=group_id,
        token_id=token_id,
        expires_at=None if expires_at is None else expires_at.isoformat(),
    )


def delete_link_token(
    workspace: Workspace, group_id: str, token_id: str, actor: Actor
) -> None:
    change = _Change("fleet.link_token_delete", f"Revoking link token {token_id}",
                     f"Revoked link token {token_id}", "link token", WRITE_WORKERS)  # fmt: skip
    _change(workspace, actor, change,
            lambda c: c.worker_groups.delete_link_token(group_id, token_id),
            group_id=group_id, token_id=token_id)  # fmt: skip


# --- task packages ----------------------------------------------------------------------------


def _digest(source: IO[bytes]) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    source.seek(0)
    for chunk in iter(lambda: source.read(65536), b""):
        digest.update(chunk)
        size += len(chunk)
    source.seek(0)
    return size, digest.hexdigest()


def upload_package(
    workspace: Workspace, name: str, bundle: IO[bytes], actor: Actor
) -> TaskPackage:
    """Create a task package in Control Room and stream the zip to it; recorded here too."""
    action = "fleet.package_upload"
    size, sha256 = _digest(bundle)
    package_id = ""
    try:
        with _client(workspace, WRITE_PACKAGES) as client:
            package_id = client.task_packages.create(name).id
            client.task_packages.upload(
                package_id, cast(BinaryIO, bundle), file_size=size
            )
    except cr.ControlRoomError as err:
        raise _failed(actor, workspace, action, f"Uploading task package {name!r}", err,
                      needs=WRITE_PACKAGES, thing="task package", name=name,
                      package_id=package_id, size=size) from None  # fmt: skip
    package = TaskPackage.objects.create(
        workspace=workspace,
        external_id=package_id,
        name=name,
        size=size,
        sha256=sha256,
        uploaded_at=timezone.now(),
        created_by=actor.user,
    )
    _record(actor, workspace, action, f"Uploaded task package {name!r} ({size} bytes)",
            outcome="done", package_id=package_id, size=size, sha256=sha256)  # fmt: skip
    return package


def stream_package(workspace: Workspace, package: TaskPackage) -> Iterator[bytes]:
    """The package's bytes from Control Room (errors before the first chunk raise here)."""
    client = _client(workspace, READ_PACKAGES)
    try:
        chunks = client.task_packages.stream(package.external_id)
    except cr.ControlRoomError as err:
        client.close()
        raise FleetActionFailed(
            describe(err, needs=READ_PACKAGES, thing="task package")
        ) from None

    def closing() -> Iterator[bytes]:
        with client:
            yield from chunks

    return closing()


def delete_package(workspace: Workspace, package: TaskPackage, actor: Actor) -> None:
    action = "fleet.package_delete"
    try:
        with _client(workspace, WRITE_PACKAGES) as client:
            client.task_packages.delete(package.external_id)
    except cr.NotFound:
        pass  # already gone in Control Room: forget it here too
    except cr.ControlRoomError as err:
        raise _failed(actor, workspace, action, f"Deleting task package {package.name!r}", err,
                      needs=WRITE_PACKAGES, thing="task package",
                      package_id=package.external_id) from None  # fmt: skip
    _record(actor, workspace, action, f"Deleted task package {package.name!r}",
            outcome="done", package_id=package.external_id)  # fmt: skip
    package.delete()


# --- assets -----------------------------------------------------------------------------------


def list_assets(workspace: Workspace) -> list[api.Asset]:
    try:
        with _client(workspace, READ_ASSETS) as client:
            return client.assets.list()
    except cr.ControlRoomError as err:
        raise FleetActionFailed(
            describe(err, needs=READ_ASSETS, thing="asset")
        ) from None


@dataclass(frozen=True)
class AssetContent:
    asset: api.AssetDetails
    data: bytes
    content_type: str | None

    @property
    def is_json(self) -> bool:
        return (self.content_type or "").split(";")[0].strip() in JSON_TYPES

    @property
    def text(self) -> str | None:
        """The content as text when it is text (JSON pretty-printed), else None."""
        try:
            text = self.data.decode("utf-8")
        except UnicodeDecodeError:
            return None
        if self.is_json:
            try:
                return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
            except ValueError:
                return text
        return text


def read_asset(workspace: Workspace, asset_id: str) -> AssetContent:
    try:
        with _client(workspace, READ_ASSETS) as client:
            details = client.assets.get(asset_id)
            data, content_type = client.assets.content(asset_id)
    except cr.ControlRoomError as err:
        raise FleetActionFailed(
            describe(err, needs=READ_ASSETS, thing="asset"),
            not_found=isinstance(err, cr.NotFound),
        ) from None
    return AssetContent(details, data, content_type)


def create_asset(workspace: Workspace, name: str, actor: Actor) -> api.AssetDetails:
    action = "fleet.asset_create"
    try:
        with _client(workspace, WRITE_ASSETS) as client:
            asset = client.assets.create(name)
    except cr.ControlRoomError as err:
        raise _failed(actor, workspace, action, f"Creating asset {name!r}", err,
                      needs=WRITE_ASSETS, thing="asset", name=name) from None  # fmt: skip
    _record(actor, workspace, action, f"Created asset {name!r}",
            outcome="done", asset_id=asset.id)  # fmt: skip
    return asset


def parse_json_text(text: str) -> bytes:
    """The JSON text as compact bytes; FleetActionFailed with line and column when invalid."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise FleetActionFailed(
            f"Not valid JSON: {err.msg} at line {err.lineno}, column {err.colno}."
        ) from None
    return json.dumps(value, ensure_ascii=False).encode()


def save_asset(
    workspace: Workspace,
    asset_id: str,
    data: bytes,
    content_type: str,
    actor: Actor,
    *,
    how: str,
) -> None:
    """Replace an asset's content. The audit records the size and type, never the content."""
    action = "fleet.asset_update"
    if len(data) > MAX_ASSET_BYTES:
        raise FleetActionFailed(
            f"The content is {len(data):,} bytes; Workroom sends at most {MAX_ASSET_BYTES:,}."
        )
    try:
        with _client(workspace, WRITE_ASSETS) as client:
            client.assets.set_content(asset_id, data, content_type)
    except AssetUploadFailed as err:
        _record(actor, workspace, action, f"Update of asset {asset_id} failed",
                outcome="failed", asset_id=asset_id, error="upload failed")  # fmt: skip
        raise FleetActionFailed(
            f"Control Room did not accept the content: {err.message}"
        ) from None
    except cr.ControlRoomError as err:
        raise _failed(actor, workspace, action, f"Update of asset {asset_id}", err,
                      needs=WRITE_ASSETS, thing="asset", asset_id=asset_id) from None  # fmt: skip
    _record(actor, workspace, action, f"Updated asset {asset_id} ({how}, {len(data)} bytes)",
            outcome="done", asset_id=asset_id, size=len(data),
            content_type=content_type, how=how)  # fmt: skip


def delete_asset(workspace: Workspace, asset_id: str, actor: Actor) -> None:
    change = _Change("fleet.asset_delete", f"Deleting asset {asset_id}",
                     f"Deleted asset {asset_id}", "asset", WRITE_ASSETS)  # fmt: skip
    _change(workspace, actor, change, lambda c: c.assets.delete(asset_id),
            asset_id=asset_id)  # fmt: skip
