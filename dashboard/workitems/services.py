"""Single-item actions: `apply` on one item, synchronously, for the item pages.

Every refusal or failure becomes an `ActionError` with a message meant for the operator;
nothing here raises a bare exception to the view.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, BinaryIO

from dashboard.audit.services import Actor
from dashboard.lib.errors import WorkroomError
from dashboard.lib.secretbox import SecretUnavailable
from dashboard.mirror.models import WorkItem
from dashboard.mirror.services.sync import refresh_item_counts
from dashboard.workitems import actions
from dashboard.workitems.actions import Action, Deferred, Outcome, Target
from dashboard.workitems.payload_history import record_payload_version
from dashboard.workitems.schemas import SchemaError, validate_payload
from dashboard.workspaces.errors import describe
from dashboard.workspaces.models import Workspace
from dashboard.workspaces.services import build_client
from robocorp_api import errors as cr
from robocorp_api.client import ControlRoomClient

ACTIONS = actions.ACTION_LABELS
# The feature each button needs (Workspace.why_not).
ACTION_FEATURE = {
    **{name: a.feature for name, a in actions.BATCH_ACTIONS.items()},
    "edit_payload": "edit_payload",
    "upload": "upload",
}


class ActionError(WorkroomError):
    """An action that did not happen (or whose outcome is unknown), with the reason to show.
    `refreshed`: Workroom re-read the item, so the page shows the truth."""

    def __init__(self, message: str, *, refreshed: bool = False) -> None:
        super().__init__(message)
        self.refreshed = refreshed


@dataclass
class ActionResult:
    item: WorkItem
    message: str
    level: str = "success"
    schema_errors: list[SchemaError] = field(default_factory=list)


# --- why a button is disabled -------------------------------------------------------------


def workspace_reasons(workspace: Workspace) -> dict[str, str]:
    """Return {action: why the workspace's key cannot do it ("" = it can)}."""
    return {
        name: workspace.why_not(feature) for name, feature in ACTION_FEATURE.items()
    }


def item_action_reasons(
    workspace: Workspace, item: WorkItem, base: dict[str, str] | None = None
) -> dict[str, str]:
    """Return {action: reason it is disabled ("" = enabled)} for one item's buttons."""
    reasons = dict(base if base is not None else workspace_reasons(workspace))
    if item.gone_at is not None:
        return dict.fromkeys(reasons, "The item no longer exists in Control Room.")
    why = actions.item_state_reason(item.state, item.gone_at)
    if why:
        for name in ACTIONS:
            reasons[name] = (
                reasons[name]
                or "Only failed items can be retried, marked done or deleted."
            )
    return reasons


# --- reading one item ---------------------------------------------------------------------


def open_client(workspace: Workspace) -> ControlRoomClient:
    """Return a client for an interactive action (brief retries: someone is waiting)."""
    try:
        return build_client(workspace, max_retries=2, backoff_base=0.2, backoff_max=2.0)
    except SecretUnavailable as err:
        raise ActionError(describe(err)) from None


def item_refresh(client: ControlRoomClient, item: WorkItem) -> WorkItem:
    """Re-read one item from Control Room into the mirror; return the fresh mirror row.

    A 404 marks the row gone. Raises ActionError for any other Control Room error.
    """
    workspace = item.workspace
    try:
        actions.reread(workspace, client, [Target.of(item)], strict=True)
    except Deferred as err:
        raise ActionError(err.message) from None
    except cr.ControlRoomError as err:
        raise ActionError(
            describe(err, needs=actions.READ_PERMISSION, thing="work item")
        ) from None
    refresh_item_counts(workspace, {item.process_id})
    return _fresh(item)


def _fresh(item: WorkItem) -> WorkItem:
    return WorkItem.objects.select_related(
        "workspace__team", "process", "process_run"
    ).get(pk=item.pk)


# --- acting on one item ---------------------------------------------------------------------


def apply_one(action: Action, item: WorkItem, actor: Actor) -> ActionResult:
    """Run `action` on one item through the pipeline; return the fresh row and message.

    Raises:
        ActionError: not done, or the outcome is unknown (the message says which).
    """
    with open_client(item.workspace) as client:
        try:
            [verdict] = actions.apply(
                action,
                [Target.of(item)],
                actor,
                workspace=item.workspace,
                client=client,
                # A click on one item's button is an explicit choice, verified or not.
                include_verified=True,
            )
        except Deferred as err:
            raise ActionError(err.message) from None
    if verdict.outcome is not Outcome.DONE:
        raise ActionError(verdict.message, refreshed=verdict.outcome is Outcome.SKIPPED)
    return ActionResult(_fresh(item), verdict.message)


def run_batch_action(action: str, item: WorkItem, actor: Actor) -> ActionResult:
    """Retry, mark done or delete one failed item."""
    if action not in actions.BATCH_ACTIONS:
        raise ActionError(f"Unknown action {action!r}.")
    return apply_one(actions.BATCH_ACTIONS[action], item, actor)


def update_payload(
    item: WorkItem, payload: Any, actor: Actor, *, note: str = ""
) -> ActionResult:
    """Validate against the process's schema, then send the payload to Control Room; once
    Control Room accepted it, store a version (before and after) in the payload history.

    Returns an ActionResult with `schema_errors` (and nothing sent) when the schema refuses.
    """
    errors = validate_payload(item.workspace, item.process_external_id, payload)
    if errors:
        return ActionResult(
            item, "The payload does not match the process's schema.", "error", errors
        )
    before = item.payload
    result = apply_one(actions.edit_payload(payload), item, actor)
    record_payload_version(item, before, payload, actor, note=note)
    return result


def upload_file(
    item: WorkItem, actor: Actor, *, file_name: str, data: BinaryIO, size: int
) -> ActionResult:
    """Attach a file to the item in Control Room (the bytes go to its upload URL).

    ``data`` (e.g. Django's ``TemporaryUploadedFile``) is streamed from its start in
    chunks by the client, never read into memory; ``size`` must be its full length.
    """
    data.seek(0)  # form validation may have read from it
    return apply_one(actions.upload_file(file_name, data, size), item, actor)
