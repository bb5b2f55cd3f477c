"""Single-item actions on work items: call Control Room at once, refresh the mirror row from
a re-read, and write an audit event. Every Control Room error becomes an `ActionError` with a
message meant for the operator; nothing here raises a bare exception to the view.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from django.http import HttpRequest
from django.utils import timezone

from dashboard.audit import services as audit
from dashboard.lib.errors import WorkroomError
from dashboard.lib.secretbox import SecretUnavailable
from dashboard.mirror.models import ProcessRun, WorkItem
from dashboard.mirror.services.sync import refresh_item_counts
from dashboard.mirror.services.upsert import ProcessResolver, write_item_detail
from dashboard.workitems.schemas import SchemaError, validate_payload
from dashboard.workspaces.errors import describe as describe_error
from dashboard.workspaces.models import PERMISSION_NAMES, Workspace
from dashboard.workspaces.services import build_client
from robocorp_api import errors as cr
from robocorp_api.client import ControlRoomClient
from robocorp_api.models import WorkItem as ApiWorkItem

logger = logging.getLogger(__name__)

ACTIONS = {
    "retry": "Retry",
    "mark_as_done": "Mark done",
    "delete": "Delete",
}
# The probe key each action needs (Workspace.permissions) and its feature slug.
ACTION_FEATURE = {
    "retry": "item_actions",
    "mark_as_done": "item_actions",
    "delete": "item_actions",
    "edit_payload": "edit_payload",
    "upload": "upload",
}
WRITE_PERMISSION = PERMISSION_NAMES["write_work_items"]
READ_PERMISSION = PERMISSION_NAMES["read_work_items"]


class ActionError(WorkroomError):
    """An action that did not happen (or whose outcome is unknown), with the reason to show."""

    def __init__(self, message: str, *, refreshed: bool = False) -> None:
        super().__init__(message)
        self.refreshed = refreshed


@dataclass
class ActionResult:
    item: WorkItem
    message: str
    level: str = "success"
    schema_errors: list[SchemaError] = field(default_factory=list)


# --- availability -------------------------------------------------------------------------


def disabled_reason(workspace: Workspace, action: str) -> str:
    """Return why the workspace's key cannot do `action` ("" when it can, or may)."""
    return workspace.why_not(ACTION_FEATURE.get(action, "item_actions"))


def workspace_reasons(workspace: Workspace) -> dict[str, str]:
    """Return {action: why the workspace's key cannot do it ("" = it can)}."""
    return {name: disabled_reason(workspace, name) for name in ACTION_FEATURE}


def item_action_reasons(
    workspace: Workspace, item: WorkItem, base: dict[str, str] | None = None
) -> dict[str, str]:
    """Return {action: reason it is disabled ("" = enabled)} for one item's buttons."""
    reasons = dict(base if base is not None else workspace_reasons(workspace))
    if item.gone_at is not None:
        return dict.fromkeys(reasons, "The item no longer exists in Control Room.")
    if item.state != "failed":
        for name in ACTIONS:
            reasons[name] = (
                reasons[name]
                or "Only failed items can be retried, marked done or deleted."
            )
    return reasons


def describe(err: cr.ControlRoomError, *, needs: str = WRITE_PERMISSION) -> str:
    return describe_error(err, needs=needs, thing="work item")


def _client(workspace: Workspace) -> ControlRoomClient:
    try:
        return build_client(workspace, max_retries=2, backoff_base=0.2, backoff_max=2.0)
    except SecretUnavailable:
        raise ActionError(
            "The workspace's stored API key cannot be decrypted; an admin must replace it."
        ) from None


# --- mirror refresh -----------------------------------------------------------------------


def store_api_item(workspace: Workspace, api_item: ApiWorkItem) -> None:
    """Write one fully read API item (payload and files included) into the mirror."""
    write_item_detail(workspace, api_item, ProcessResolver(workspace), timezone.now())


def _mark_gone(item: WorkItem) -> None:
    WorkItem.objects.filter(pk=item.pk, gone_at__isnull=True).update(
        gone_at=timezone.now()
    )


def item_refresh(client: ControlRoomClient, item: WorkItem) -> WorkItem:
    """Re-read one item from Control Room into the mirror; return the fresh mirror row.

    A 404 marks the row gone. Raises ActionError for any other Control Room error.
    """
    workspace = item.workspace
    try:
        store_api_item(workspace, client.work_items.get(item.external_id))
    except cr.NotFound:
        _mark_gone(item)
    except cr.ControlRoomError as err:
        raise ActionError(describe(err, needs=READ_PERMISSION)) from None
    refresh_item_counts(workspace, {item.process_id})
    return WorkItem.objects.select_related("workspace__team", "process").get(pk=item.pk)


def _require_failed(client: ControlRoomClient, item: WorkItem) -> None:
    """Re-read the item; refuse (after refreshing the mirror) unless Control Room says failed.

    Control Room's v1 batch silently skips items that are not failed (API.md §3.6), so the
    check happens here, before the action, to tell the operator what really happened.
    """
    fresh = item_refresh(client, item)
    if fresh.gone_at is not None:
        raise ActionError(
            "This item no longer exists in Control Room; Workroom updated its copy.",
            refreshed=True,
        )
    if fresh.state != "failed":
        raise ActionError(
            f"This item is no longer failed (Control Room says {fresh.state.replace('_', ' ')}); "
            "Workroom re-read it and updated the row. Nothing was sent.",
            refreshed=True,
        )


def _audit(
    request: HttpRequest | None, item: WorkItem, action: str, summary: str, **data: Any
) -> None:
    audit.record(
        request,
        team=item.workspace.team,
        action=f"work_item.{action}",
        obj=item,
        summary=summary,
        data={
            "workspace_id": item.workspace_id,
            "work_item_id": item.external_id,
            "process_id": item.process_external_id,
            **data,
        },
    )


def _run(
    request: HttpRequest | None,
    item: WorkItem,
    action: str,
    call: Callable[[ControlRoomClient], Any],
    *,
    check_failed: bool,
    summary: str,
    done_message: str,
    audit_data: dict[str, Any] | None = None,
) -> ActionResult:
    """Shared shape of every action: guard, call, re-read, audit; errors → ActionError."""
    reason = disabled_reason(item.workspace, action)
    if reason:
        raise ActionError(reason)
    with _client(item.workspace) as client:
        try:
            if check_failed:
                _require_failed(client, item)
            call(client)
        except ActionError as err:
            _audit(
                request,
                item,
                action,
                f"{summary}: not done — {err.message}",
                outcome="refused",
            )
            raise
        except cr.ControlRoomError as err:
            message = describe(err)
            refreshed = False
            if isinstance(err, cr.Conflict | cr.AmbiguousResult | cr.NotFound):
                # The item changed under us or the outcome is unknown: show the truth.
                try:
                    item_refresh(client, item)
                    refreshed = True
                    if isinstance(err, cr.Conflict):
                        message += " Workroom re-read the item and updated the row."
                except ActionError:
                    pass
            _audit(
                request,
                item,
                action,
                f"{summary}: failed — {message}",
                outcome="error",
                status=err.status,
                code=err.code,
            )
            raise ActionError(message, refreshed=refreshed) from None
        try:
            fresh = item_refresh(client, item)
        except ActionError as err:
            fresh, done_message = (
                item,
                f"{done_message} (Workroom could not re-read it: {err.message})",
            )
    _audit(request, item, action, summary, outcome="ok", **(audit_data or {}))
    return ActionResult(fresh, done_message)


def _flag_run(item: WorkItem) -> None:
    """Ask the next sync to re-read the item's run: a retried item is processed again later,
    and the run's new outcome must reach the mirror even without webhooks (as a webhook does)."""
    if item.process_run_external_id:
        ProcessRun.objects.filter(
            workspace_id=item.workspace_id, external_id=item.process_run_external_id
        ).update(needs_refresh=True, refresh_requested_at=timezone.now())


def work_item_batch_action(
    request: HttpRequest | None, item: WorkItem, action: str
) -> ActionResult:
    """Retry, mark done or delete one failed item."""
    if action not in ACTIONS:
        raise ActionError(f"Unknown action {action!r}.")
    labels = {
        "retry": ("Retried", "Retry sent: Control Room will process the item again."),
        "mark_as_done": ("Marked done", "Marked done."),
        "delete": ("Deleted", "Deleted in Control Room."),
    }
    verb, done = labels[action]
    result = _run(
        request,
        item,
        action,
        lambda client: client.work_items.batch(action, [item.external_id]),  # type: ignore[arg-type]
        check_failed=True,
        summary=f"{verb} work item {item.external_id}",
        done_message=done,
    )
    if action == "retry":
        _flag_run(item)
    return result


def work_item_update_payload(
    request: HttpRequest | None, item: WorkItem, payload: Any
) -> ActionResult:
    """Validate against the process's schema, then send the payload to Control Room.

    Returns an ActionResult with `schema_errors` (and nothing sent) when the schema refuses.
    """
    errors = validate_payload(item.workspace, item.process_external_id, payload)
    if errors:
        return ActionResult(
            item, "The payload does not match the process's schema.", "error", errors
        )
    return _run(
        request,
        item,
        "edit_payload",
        lambda client: client.work_items.update_payload(item.external_id, payload),
        check_failed=False,
        summary=f"Edited the payload of work item {item.external_id}",
        done_message="Payload saved in Control Room.",
    )


def work_item_upload_file(
    request: HttpRequest | None,
    item: WorkItem,
    *,
    file_name: str,
    data: BinaryIO,
    size: int,
) -> ActionResult:
    """Attach a file to the item in Control Room (the bytes go to its upload URL).

    ``data`` (e.g. Django's ``TemporaryUploadedFile``) is streamed from its start in
    chunks by the client, never read into memory; ``size`` must be its full length.
    """
    data.seek(0)  # form validation may have read from it
    return _run(
        request,
        item,
        "upload",
        lambda client: client.work_items.upload_file(
            item.external_id, file_name=file_name, data=data, file_size=size
        ),
        check_failed=False,
        summary=f"Uploaded {file_name} to work item {item.external_id}",
        done_message=f"Uploaded {file_name}.",
        audit_data={"file_name": file_name, "size": size},
    )
