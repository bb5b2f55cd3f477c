"""Retry with patch: one JSON merge patch (RFC 7396) or JSON Patch (RFC 6902) applied to the
payload of every item of a selection, then the item retried — as one resumable operation.

At preview, each item's patched payload is computed from the mirror and checked against the
process's schema; items it does not apply to, or leaves invalid, are not eligible (the reason
says why). At execution, each item's payload is sent once (a full PUT of the frozen patched
payload, so sending it again changes nothing) and versioned once, then the item is retried
through the chunk's claim machinery like any bulk retry.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jsonpatch

from dashboard.audit.services import Actor
from dashboard.lib.errors import WorkroomError
from dashboard.mirror.models import WorkItem
from dashboard.workitems.actions import (
    Deferred,
    Outcome,
    Target,
    apply,
    edit_payload,
    reread,
)
from dashboard.workitems.models import PayloadVersion
from dashboard.workitems.payload_history import (
    Change,
    json_diff,
    record_payload_version,
)
from dashboard.workitems.schemas import validate_payload
from dashboard.workspaces.models import Workspace
from robocorp_api.client import ControlRoomClient

KINDS = {"merge": "JSON merge patch (RFC 7396)", "json_patch": "JSON Patch (RFC 6902)"}


class PatchError(WorkroomError):
    """The patch cannot be read or does not apply; `message` says why."""


def parse_patch(text: str, kind: str) -> Any:
    """Read a patch typed by the operator.

    Raises:
        PatchError: unknown kind, not JSON, or not a JSON Patch (a list of operations).
    """
    if kind not in KINDS:
        raise PatchError("Choose a JSON merge patch or a JSON Patch.")
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as err:
        raise PatchError(f"The patch is not valid JSON: {err}") from None
    if kind == "json_patch":
        if not isinstance(value, list) or not value:
            raise PatchError("A JSON Patch is a non-empty list of operations.")
        try:
            jsonpatch.JsonPatch(value)  # checks every operation
        except (jsonpatch.JsonPatchException, KeyError, TypeError) as err:
            raise PatchError(f"Not a valid JSON Patch: {err}") from None
    return value


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply an RFC 7396 merge patch: objects merge key by key, null removes a key, any
    other value replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def apply_patch(payload: Any, patch: Any, kind: str) -> Any:
    """Return the patched copy of `payload`.

    Raises:
        PatchError: a JSON Patch operation does not apply (a missing path, a failed test).
    """
    if kind == "merge":
        return merge_patch(payload, patch)
    try:
        return jsonpatch.apply_patch(payload, patch, in_place=False)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as err:
        raise PatchError(f"The patch does not apply: {err}") from None
    except (KeyError, IndexError, TypeError) as err:
        raise PatchError(f"The patch does not apply: {err!r}") from None


def patched_or_reason(
    workspace: Workspace, item: dict[str, Any], patch: Any, kind: str
) -> tuple[Any, str]:
    """Return (the item's patched payload, "") or (None, why it is not eligible)."""
    if item["payload_synced_at"] is None:
        return None, "Its payload has not been read from Control Room yet."
    try:
        patched = apply_patch(item["payload"], patch, kind)
    except PatchError as err:
        return None, err.message[:300]
    if patched == item["payload"]:
        return None, "The patch changes nothing in its payload."
    errors = validate_payload(workspace, item["process_external_id"], patched)
    if errors:
        first = errors[0]
        return None, (
            f"Invalid under the process's schema after the patch: {first.path} "
            f"{first.message}"
        )[:300]
    return patched, ""


@dataclass(frozen=True)
class SampleDiff:
    external_id: str
    changes: list[Change]


def sample_diffs(pairs: list[tuple[str, Any, Any]]) -> list[SampleDiff]:
    """The diff of each (external id, before, after) of a preview's sample."""
    return [SampleDiff(ext, json_diff(before, after)) for ext, before, after in pairs]


# --- execution ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Patched:
    """The outcome of the payload step of one item."""

    seen_at: (
        datetime | None
    )  # Control Room's state_updated_at after the PUT; None: not sent
    outcome: Outcome = Outcome.DONE
    message: str = ""


def send_patched_payload(
    client: ControlRoomClient,
    workspace: Workspace,
    actor: Actor,
    target: Target,
    patched: Any,
    *,
    operation_note: str,
) -> Patched:
    """Send one item's patched payload unless it already holds it (a delivery that died
    after sending it); record its version once. The item is re-read first, so a payload
    somebody changed since the preview is never overwritten.

    Raises:
        Deferred: Control Room asked to wait or could not be reached.
    """
    row = reread(workspace, client, [target]).get(target.work_item_id)
    if row is None or row["gone_at"] is not None:
        return Patched(
            None, Outcome.SKIPPED, "The item no longer exists in Control Room."
        )
    item = WorkItem.objects.get(pk=target.work_item_id)
    if item.payload == patched:
        _version_once(item, None, patched, actor, operation_note)
        return Patched(row["state_updated_at"])
    if row["state"] != "failed" or row["state_updated_at"] != target.seen_updated_at:
        return Patched(
            None,
            Outcome.SKIPPED,
            "Changed since it was chosen (it failed again or was updated); nothing was sent.",
        )
    before = item.payload
    [verdict] = apply(
        edit_payload(patched), [target], actor, workspace=workspace, client=client
    )
    if verdict.outcome is Outcome.UNSENT:
        raise Deferred(verdict.message, transient=True)
    if verdict.outcome is not Outcome.DONE:
        return Patched(None, verdict.outcome, verdict.message)
    _version_once(item, before, patched, actor, operation_note)
    seen = (
        WorkItem.objects.filter(pk=target.work_item_id)
        .values_list("state_updated_at", flat=True)
        .first()
    )
    return Patched(seen)


def _version_once(
    item: WorkItem, before: Any, after: Any, actor: Actor, note: str
) -> None:
    if PayloadVersion.objects.filter(work_item=item, note=note).exists():
        return
    if before is None:
        previous = (
            PayloadVersion.objects.filter(work_item=item).order_by("-number").first()
        )
        before = previous.after if previous is not None else None
    record_payload_version(item, before, after, actor, note=note)
