"""The action pipeline: every action on work items goes through `apply`, whoever starts it
(a click on one item, a bulk chunk, later a policy or an API token):

    eligible? → send → reconcile when the answer is lost → write the mirror
    → verdict per item → audit

so eligibility, messages, reconciliation and audit mean the same thing everywhere
(ARCHITECTURE.md "Actions on work items"). The caller owns the client and any claim on the
items; `before_send` lets it take the items in hand (a bulk chunk marks them in flight under
its lease) just before the one call that may change Control Room.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, BinaryIO

from django.utils import timezone

from dashboard.accounts.models import Membership, Role
from dashboard.audit.services import Actor, record_by
from dashboard.lib.errors import WorkroomError
from dashboard.mirror.models import ProcessRun, WorkItem
from dashboard.mirror.services import occurrences
from dashboard.mirror.services.sync import refresh_item_counts
from dashboard.mirror.services.upsert import ProcessResolver, write_item_detail
from dashboard.workitems import rollup
from dashboard.workitems.models import ItemHandling, ReviewStatus
from dashboard.workspaces.errors import describe
from dashboard.workspaces.models import PERMISSION_NAMES, Workspace
from robocorp_api import errors as cr
from robocorp_api.client import ControlRoomClient
from robocorp_api.models import WorkItem as ApiWorkItem

logger = logging.getLogger(__name__)

WRITE_PERMISSION = PERMISSION_NAMES["write_work_items"]
READ_PERMISSION = PERMISSION_NAMES["read_work_items"]
GONE = "gone"


@dataclass(frozen=True)
class Action:
    """What an action is: the feature its key needs, the call, and how to tell it happened."""

    name: str
    feature: str  # Workspace feature slug (Workspace.why_not)
    verb: str  # for the audit summary: "Retried work item …"
    done: str  # what the operator reads once Control Room accepted it
    call: Callable[[ControlRoomClient, list[str]], Any]
    # Seen on a re-read once applied (decides a lost answer); None: "it changed" is enough.
    applied: Callable[[ApiWorkItem], bool] | None = None
    only_failed: bool = True  # retry / mark done / delete act on failed items only
    settles_to: str = ""  # the mirror state once accepted ("" = read it back)
    audit_data: dict[str, Any] = field(default_factory=dict)


def _batch(operation: str) -> Callable[[ControlRoomClient, list[str]], Any]:
    return lambda client, ids: client.work_items.batch(operation, ids)  # type: ignore[arg-type]


RETRY = Action(
    "retry",
    "item_actions",
    "Retried",
    "Retry sent: Control Room will process the item again.",
    _batch("retry"),
    settles_to="pending",
)
MARK_AS_DONE = Action(
    "mark_as_done",
    "item_actions",
    "Marked done",
    "Marked done.",
    _batch("mark_as_done"),
    applied=lambda api: api.state == "done",
    settles_to="done",
)
DELETE = Action(
    "delete",
    "item_actions",
    "Deleted",
    "Deleted in Control Room.",
    _batch("delete"),
    settles_to=GONE,
)
BATCH_ACTIONS: dict[str, Action] = {a.name: a for a in (RETRY, MARK_AS_DONE, DELETE)}
ACTION_LABELS = {"retry": "Retry", "mark_as_done": "Mark done", "delete": "Delete"}


def edit_payload(payload: Any) -> Action:
    """Return the action that replaces one item's payload with `payload`."""
    return Action(
        "edit_payload",
        "edit_payload",
        "Edited the payload of",
        "Payload saved in Control Room.",
        lambda client, ids: client.work_items.update_payload(ids[0], payload),
        applied=lambda api: api.payload == payload,
        only_failed=False,
    )


def upload_file(file_name: str, data: BinaryIO, size: int) -> Action:
    """Return the action that attaches a file to one item (streamed from `data`'s start)."""
    return Action(
        "upload",
        "upload",
        f"Uploaded {file_name} to",
        f"Uploaded {file_name}.",
        lambda client, ids: client.work_items.upload_file(
            ids[0], file_name=file_name, data=data, file_size=size
        ),
        applied=lambda api: any(f.name == file_name for f in api.files),
        only_failed=False,
        audit_data={"file_name": file_name, "size": size},
    )


# --- items and verdicts -----------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One item to act on, as the actor saw it."""

    work_item_id: int
    external_id: str
    process_id: int | None
    # Control Room's state_updated_at when the item was chosen (a bulk preview); None: the
    # item is judged as it is now. Before sending it holds the value just checked.
    seen_updated_at: datetime | None = None
    key: int = 0  # the caller's handle (a BulkItem pk); the work item id by default

    @classmethod
    def of(cls, item: WorkItem) -> Target:
        return cls(item.pk, item.external_id, item.process_id, key=item.pk)


class Outcome(StrEnum):
    DONE = "done"  # applied (or confirmed applied by a re-read)
    SKIPPED = "skipped"  # not eligible any more; nothing was sent
    FAILED = "failed"  # Control Room refused, or the outcome cannot be known
    UNSENT = (
        "unsent"  # not applied, may be sent again (a lost answer, re-read: unchanged)
    )


@dataclass(frozen=True)
class Verdict:
    target: Target
    outcome: Outcome
    message: str


class Deferred(WorkroomError):
    """Control Room asked to wait (429) or could not be reached: the items of `decided` got
    their verdict (UNSENT ones were certainly not applied); the others are undecided."""

    def __init__(
        self,
        message: str,
        *,
        decided: Sequence[Verdict] = (),
        retry_after: float | None = None,
        transient: bool,
    ) -> None:
        super().__init__(message)
        self.decided = list(decided)
        self.retry_after = retry_after
        self.transient = transient


def _deferred(err: cr.ControlRoomError, decided: Sequence[Verdict]) -> Deferred:
    return Deferred(
        describe(err, needs=READ_PERMISSION, thing="work item"),
        decided=decided,
        retry_after=err.retry_after if isinstance(err, cr.RateLimited) else None,
        transient=not isinstance(err, cr.RateLimited),
    )


# --- the pipeline -----------------------------------------------------------------------------


def apply(
    action: Action,
    targets: Sequence[Target],
    actor: Actor,
    *,
    workspace: Workspace,
    client: ControlRoomClient,
    fresh_within: timedelta | None = None,
    before_send: Callable[[list[Target]], None] | None = None,
    read_back: bool = True,
    audit_each: bool = True,
    include_verified: bool = False,
    recount: bool = True,
) -> list[Verdict]:
    """Act on items of one workspace; return a verdict per item.

    Mirror rows seen by a sync within `fresh_within` are trusted for eligibility; others
    (all, when None) are re-read first. `read_back` re-reads applied items into the mirror
    (one GET each); without it the mirror gets the state Control Room gives them. With
    `audit_each` every item gets its own audit event (a bulk operation is audited whole).
    Items the team marked "verified" are not retried unless `include_verified` (the caller
    chose them explicitly); a retry Control Room accepted sets the review status "retried".
    Without `recount` the caller brings triage's rollup and the processes' item counts up to
    date itself (`refresh_counts`): each recount reads whole groups and processes, so a
    bulk operation does it once for many calls instead of after each.

    Raises:
        Deferred: 429 or Control Room unreachable; send the undecided items again later.
    """
    targets = list(targets)
    keeping = (
        rollup.keeping(t.work_item_id for t in targets) if recount else nullcontext()
    )
    with keeping:
        try:
            verdicts = _apply(
                action,
                targets,
                actor,
                workspace,
                client,
                fresh_within,
                before_send,
                include_verified,
            )
        except Deferred as deferred:
            _note_retried(action, deferred.decided, actor)
            if audit_each:
                _audit(action, actor, workspace, _undecided(targets, deferred))
            raise
        _note_retried(action, verdicts, actor)
        _write_mirror(action, verdicts, workspace, client, read_back, recount)
    if audit_each:
        _audit(action, actor, workspace, verdicts)
    return verdicts


def _note_retried(action: Action, verdicts: Sequence[Verdict], actor: Actor) -> None:
    """Attempt history: who retried the items' current failures (accepted retries only)."""
    if action is RETRY:
        occurrences.mark_retried(
            [v.target.work_item_id for v in verdicts if v.outcome is Outcome.DONE],
            actor.label,
        )


def _undecided(targets: Sequence[Target], deferred: Deferred) -> list[Verdict]:
    decided = {v.target.key for v in deferred.decided}
    return deferred.decided + [
        Verdict(t, Outcome.UNSENT, deferred.message)
        for t in targets
        if t.key not in decided
    ]


def _apply(
    action: Action,
    targets: list[Target],
    actor: Actor,
    workspace: Workspace,
    client: ControlRoomClient,
    fresh_within: timedelta | None,
    before_send: Callable[[list[Target]], None] | None,
    include_verified: bool,
) -> list[Verdict]:
    blocked = actor_refusal(actor, workspace) or workspace.why_not(action.feature)
    if blocked:
        return [
            Verdict(t, Outcome.SKIPPED, f"{blocked} Nothing was sent.") for t in targets
        ]
    targets, verdicts = _not_verified(action, targets, include_verified)
    to_send, more = _eligible(action, targets, workspace, client, fresh_within)
    verdicts += more
    if not to_send:
        return verdicts
    if before_send is not None:
        before_send(to_send)
    return verdicts + _send(action, to_send, workspace, client)


# --- eligible? --------------------------------------------------------------------------------

VERIFIED_REFUSAL = (
    "Verified by the team: not retried unless verified items are included explicitly. "
    "Nothing was sent."
)


def _not_verified(
    action: Action, targets: list[Target], include_verified: bool
) -> tuple[list[Target], list[Verdict]]:
    """Keep verified items out of a retry unless the caller included them explicitly."""
    if action is not RETRY or include_verified or not targets:
        return targets, []
    verified = verified_ids(t.work_item_id for t in targets)
    return (
        [t for t in targets if t.work_item_id not in verified],
        [
            Verdict(t, Outcome.SKIPPED, VERIFIED_REFUSAL)
            for t in targets
            if t.work_item_id in verified
        ],
    )


def verified_ids(work_item_ids: Iterable[int]) -> set[int]:
    """Return the ids among these whose review status is "verified"."""
    return set(
        ItemHandling.objects.filter(
            work_item__in=list(work_item_ids), review_status=ReviewStatus.VERIFIED
        ).values_list("work_item_id", flat=True)
    )


def mark_retried(work_item_ids: Iterable[int]) -> None:
    """A retry Control Room accepted: the items' review status becomes "retried"."""
    ids = list(work_item_ids)
    if not ids:
        return
    ItemHandling.objects.bulk_create(
        [ItemHandling(work_item_id=pk) for pk in ids], ignore_conflicts=True
    )
    ItemHandling.objects.filter(work_item__in=ids).update(
        review_status=ReviewStatus.RETRIED, review_updated_at=timezone.now()
    )


def actor_refusal(actor: Actor, workspace: Workspace) -> str:
    """Return why the actor may not act on this workspace's items now ("" = may).

    Checked at every apply, so a bulk operation stops acting for someone who lost the
    operator role (or left the team) after confirming it.
    """
    role = (
        Membership.objects.filter(user=actor.user, team_id=workspace.team_id)
        .values_list("role", flat=True)
        .first()
        if actor.user is not None
        else None
    )
    if role is None or role < Role.OPERATOR:
        who = actor.label or "The actor"
        return (
            f"{who} may not act in {workspace.team.name} (the operator role is needed)."
        )
    return ""


def _eligible(
    action: Action,
    targets: list[Target],
    workspace: Workspace,
    client: ControlRoomClient,
    fresh_within: timedelta | None,
) -> tuple[list[Target], list[Verdict]]:
    """Split the items into those still eligible (with the state_updated_at just checked)
    and verdicts for the others. Control Room's batch silently skips items that are not
    failed (API.md §3.6), so this check is what tells the operator what really happened."""
    if not action.only_failed:
        return targets, []
    rows = _mirror_rows([t.work_item_id for t in targets])
    stale = _stale(targets, rows, fresh_within)
    if stale:
        rows.update(reread(workspace, client, stale))
    keep: list[Target] = []
    verdicts: list[Verdict] = []
    for target in targets:
        row = rows.get(target.work_item_id)
        why = ineligible_reason(target, row)
        if why:
            verdicts.append(Verdict(target, Outcome.SKIPPED, why))
        else:
            assert row is not None
            keep.append(replace(target, seen_updated_at=row["state_updated_at"]))
    return keep, verdicts


def _stale(
    targets: list[Target],
    rows: dict[int, dict[str, Any]],
    fresh_within: timedelta | None,
) -> list[Target]:
    if fresh_within is None:
        return targets
    before = timezone.now() - fresh_within
    return [
        t
        for t in targets
        if t.work_item_id in rows
        and rows[t.work_item_id]["gone_at"] is None
        and rows[t.work_item_id]["last_seen_at"] < before
    ]


def item_state_reason(state: str, gone_at: datetime | None) -> str:
    """Return why an item in this mirror state cannot be retried, marked done or deleted."""
    if gone_at is not None:
        return "The item no longer exists in Control Room."
    if state != "failed":
        return f"Not failed (it is {state.replace('_', ' ')})."
    return ""


def ineligible_reason(target: Target, row: dict[str, Any] | None) -> str:
    """Return why the item may not be sent now ("" = it may), judged on its mirror row."""
    if row is None or row["gone_at"] is not None:
        return "The item no longer exists in Control Room; nothing was sent."
    if row["state"] != "failed":
        return (
            f"The item is no longer failed (now {row['state'].replace('_', ' ')}). "
            "Nothing was sent."
        )
    seen = target.seen_updated_at
    if seen is not None and row["state_updated_at"] != seen:
        return "Changed since it was chosen (it failed again or was updated); nothing was sent."
    return ""


def _mirror_rows(pks: list[int]) -> dict[int, dict[str, Any]]:
    fields = ("pk", "state", "state_updated_at", "gone_at", "last_seen_at")
    return {
        r[0]: dict(zip(fields, r, strict=True))
        for r in WorkItem.objects.filter(pk__in=pks).values_list(*fields)
    }


def reread(
    workspace: Workspace,
    client: ControlRoomClient,
    targets: list[Target],
    *,
    strict: bool = False,
) -> dict[int, dict[str, Any]]:
    """Re-read items into the mirror (a 404 marks the row gone); return their fresh rows.

    An item that cannot be re-read for another reason (e.g. no read permission) is judged
    on the mirror as it is, unless `strict`.

    Raises:
        Deferred: 429 or Control Room unreachable.
        ControlRoomError: (strict) any other error.
    """
    resolver, now = ProcessResolver(workspace), timezone.now()
    with rollup.keeping(t.work_item_id for t in targets):
        for target in targets:
            try:
                write_item_detail(
                    workspace, client.work_items.get(target.external_id), resolver, now
                )
            except cr.NotFound:
                _mark_gone([target.work_item_id], now)
            except cr.TransientError as err:
                raise _deferred(err, []) from None
            except cr.ControlRoomError as err:
                if strict:
                    raise
                logger.info(
                    "could not re-read work item %s: %s", target.external_id, err
                )
    return _mirror_rows([t.work_item_id for t in targets])


def _mark_gone(pks: list[int], now: datetime) -> None:
    WorkItem.objects.filter(pk__in=pks, gone_at__isnull=True).update(gone_at=now)


# --- send ---------------------------------------------------------------------------------------


def _send(
    action: Action,
    targets: list[Target],
    workspace: Workspace,
    client: ControlRoomClient,
) -> list[Verdict]:
    try:
        action.call(client, [t.external_id for t in targets])
    except (cr.RateLimited, cr.ConnectionFailed) as err:
        # A 429 or a connection never made: Control Room did nothing.
        unsent = [Verdict(t, Outcome.UNSENT, _describe(err)) for t in targets]
        raise Deferred(
            _describe(err),
            decided=unsent,
            retry_after=err.retry_after if isinstance(err, cr.RateLimited) else None,
            transient=isinstance(err, cr.ConnectionFailed),
        ) from None
    except (cr.AmbiguousResult, cr.ServerError, cr.InvalidResponse) as err:
        # It may or may not have been applied: re-read, never re-send blindly.
        logger.warning("%s: outcome unknown (%s); re-reading", action.name, err)
        return reconcile(action, targets, workspace, client, lost=_describe(err))
    except cr.ControlRoomError as err:
        return _refused(action, targets, workspace, client, err)
    return [Verdict(t, Outcome.DONE, action.done) for t in targets]


def _describe(err: cr.ControlRoomError) -> str:
    return describe(err, needs=WRITE_PERMISSION, thing="work item")


def _refused(
    action: Action,
    targets: list[Target],
    workspace: Workspace,
    client: ControlRoomClient,
    err: cr.ControlRoomError,
) -> list[Verdict]:
    """Control Room said no. After a 409 or 404 the item changed under us: show the truth."""
    message = _describe(err)
    if isinstance(err, cr.Conflict | cr.NotFound):
        try:
            reread(workspace, client, targets)
            message += " Workroom re-read the item and updated the row."
        except Deferred:
            pass
    return [Verdict(t, Outcome.FAILED, message) for t in targets]


# --- reconcile ----------------------------------------------------------------------------------


def reconcile(
    action: Action,
    targets: Sequence[Target],
    workspace: Workspace,
    client: ControlRoomClient,
    *,
    lost: str = "",
) -> list[Verdict]:
    """Decide from Control Room's current state whether items were applied.

    Unchanged (still failed, same state_updated_at; for an edit: not as sent) → UNSENT (send
    again); changed by this action → DONE; changed otherwise → SKIPPED. `lost` says why the
    answer is unknown (shown on UNSENT items).

    Raises:
        Deferred: 429 or unreachable while re-reading; `decided` holds the verdicts so far.
    """
    resolver, now = ProcessResolver(workspace), timezone.now()
    verdicts: list[Verdict] = []
    for target in targets:
        try:
            api = client.work_items.get(target.external_id)
        except cr.NotFound:
            _mark_gone([target.work_item_id], now)
            verdicts.append(_judge_gone(action, target))
            continue
        except cr.TransientError as err:
            raise _deferred(err, verdicts) from None
        except cr.ControlRoomError as err:
            why = describe(err, needs=READ_PERMISSION, thing="work item")
            verdicts.append(
                Verdict(
                    target,
                    Outcome.FAILED,
                    f"Outcome unknown and the item could not be re-read: {why}",
                )
            )
            continue
        write_item_detail(workspace, api, resolver, now)
        verdicts.append(_judge(action, target, api, lost))
    return verdicts


def _judge_gone(action: Action, target: Target) -> Verdict:
    if action.settles_to == GONE:
        return Verdict(
            target, Outcome.DONE, "Deleted (confirmed by re-reading Control Room)."
        )
    return Verdict(
        target, Outcome.SKIPPED, "The item no longer exists in Control Room."
    )


def _judge(action: Action, target: Target, api: ApiWorkItem, lost: str) -> Verdict:
    if action.only_failed:
        unchanged = (
            api.state == "failed" and api.state_updated_at == target.seen_updated_at
        )
    else:
        unchanged = action.applied is not None and not action.applied(api)
    if unchanged:
        note = lost or "Not applied (Control Room re-read: unchanged)."
        return Verdict(target, Outcome.UNSENT, note)
    if action.applied is None or action.applied(api):
        return Verdict(
            target, Outcome.DONE, "Applied (confirmed by re-reading Control Room)."
        )
    return Verdict(
        target,
        Outcome.SKIPPED,
        f"Changed outside this action (now {api.state.replace('_', ' ')}).",
    )


# --- write the mirror ---------------------------------------------------------------------------


def _write_mirror(
    action: Action,
    verdicts: list[Verdict],
    workspace: Workspace,
    client: ControlRoomClient,
    read_back: bool,
    recount: bool = True,
) -> None:
    """Give applied items the state Control Room gives them (or read them back), flag the
    runs of retried items, and recount the processes touched (when `recount`)."""
    applied = [v.target for v in verdicts if v.outcome is Outcome.DONE]
    if applied:
        if read_back or not action.settles_to:
            _read_back(workspace, client, applied)
        _settle(action, applied)
        if action is RETRY:
            flag_runs(workspace, [t.work_item_id for t in applied])
            mark_retried(t.work_item_id for t in applied)
    touched = {v.target.process_id for v in verdicts if v.target.process_id}
    if touched and recount:
        refresh_item_counts(workspace, touched)


def refresh_counts(workspace: Workspace, process_ids: Iterable[int]) -> None:
    """Recompute the workspace's failure groups (triage's rollup) and these processes' item
    counts: what `apply` does after each call unless told not to (`recount`)."""
    rollup.refresh_workspace(workspace.pk)
    if pks := {pk for pk in process_ids if pk}:
        refresh_item_counts(workspace, pks)


def _read_back(
    workspace: Workspace, client: ControlRoomClient, targets: list[Target]
) -> None:
    try:
        reread(workspace, client, targets)
    except Deferred as err:
        logger.info("could not read back acted-on items: %s", err.message)


def _settle(action: Action, targets: list[Target]) -> None:
    """Write the expected state on rows a read-back did not move (Control Room applies a
    batch asynchronously, so a read right after may still say failed)."""
    rows = WorkItem.objects.filter(
        pk__in=[t.work_item_id for t in targets], state="failed", gone_at__isnull=True
    )
    now = timezone.now()
    if action.settles_to == GONE:
        rows.update(gone_at=now)
    elif action.settles_to:
        rows.update(state=action.settles_to, state_updated_at=now)


def flag_runs(workspace: Workspace, work_item_ids: list[int]) -> None:
    """Ask the next sync to re-read the runs of retried items: they are processed again
    later, and the run's new outcome must reach the mirror even without webhooks.
    One UPDATE for all the items' runs."""
    run_ids = (
        WorkItem.objects.filter(pk__in=work_item_ids)
        .exclude(process_run_external_id="")
        .values("process_run_external_id")
    )
    ProcessRun.objects.filter(workspace=workspace, external_id__in=run_ids).update(
        needs_refresh=True, refresh_requested_at=timezone.now()
    )


# --- audit -------------------------------------------------------------------------------------

_AUDIT_OUTCOME = {
    Outcome.DONE: "ok",
    Outcome.SKIPPED: "refused",
    Outcome.FAILED: "error",
    Outcome.UNSENT: "error",
}


def _audit(
    action: Action, actor: Actor, workspace: Workspace, verdicts: list[Verdict]
) -> None:
    items = WorkItem.objects.in_bulk([v.target.work_item_id for v in verdicts])
    for verdict in verdicts:
        item = items.get(verdict.target.work_item_id)
        if item is None:
            continue
        summary = f"{action.verb} work item {item.external_id}"
        if verdict.outcome is Outcome.SKIPPED:
            summary += f": not done — {verdict.message}"
        elif verdict.outcome is not Outcome.DONE:
            summary += f": failed — {verdict.message}"
        record_by(
            actor,
            team=workspace.team,
            action=f"work_item.{action.name}",
            obj=item,
            summary=summary,
            data={
                "workspace_id": workspace.pk,
                "work_item_id": item.external_id,
                "process_id": item.process_external_id,
                "outcome": _AUDIT_OUTCOME[verdict.outcome],
                **(action.audit_data if verdict.outcome is Outcome.DONE else {}),
            },
        )
