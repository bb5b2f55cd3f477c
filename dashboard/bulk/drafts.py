"""Bulk drafts: resolving a selection, freezing it as a draft (the preview), confirming it,
and purging drafts that expired (`selectors.py` beside it holds the pages' reads).

"All matching" selections carry the explorer's query string, never ids: the set is recomputed
here with the action core's own filter code (`workitems.filtering`), scoped to the user's
teams. Confirming writes the chunks; each chunk claims its items when it first runs, with a
conditional UPDATE guarded by a partial unique index, so an item is never queued in two
operations at once (until then the confirmed items count as held, `BulkItem.held`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone

from dashboard.accounts.models import Team, User
from dashboard.audit import services as audit
from dashboard.audit.services import Actor
from dashboard.bulk import conf, frozen_items
from dashboard.bulk.approval import needs_approval
from dashboard.bulk.models import (
    Action,
    BulkChunk,
    BulkItem,
    BulkOperation,
    BulkThrottle,
)
from dashboard.bulk.patching import KINDS, SampleDiff, patched_or_reason, sample_diffs
from dashboard.bulk.selectors import MAX_ID, act_refusal
from dashboard.lib.errors import WorkroomError
from dashboard.mirror.models import Process, WorkItem
from dashboard.workitems.actions import item_state_reason, verified_ids
from dashboard.workitems.filtering import FilterError, filter_only, matching_items
from dashboard.workitems.selectors import Scope
from dashboard.workitems.undo import HELD_ACTIONS, window_seconds
from dashboard.workspaces.models import Workspace

logger = logging.getLogger(__name__)

MAX_EXPLICIT_IDS = 500


class SelectionError(WorkroomError):
    """The selection cannot become an operation; `message` is shown to the operator."""


# --- resolving a selection -------------------------------------------------------------------


def selected_items(
    scope: Scope,
    *,
    filter_query: str = "",
    ids: Sequence[int] | None = None,
) -> QuerySet[WorkItem]:
    """Return the mirror rows of a selection, limited to the user's workspaces.

    Raises:
        SelectionError: the filter is invalid (an invalid filter is never widened to "all").
    """
    if ids is not None:
        return WorkItem.objects.filter(
            pk__in=list(ids), workspace_id__in=list(scope.workspaces)
        )
    try:
        return matching_items(scope, filter_query)
    except FilterError as err:
        raise SelectionError(err.message) from None


def parse_ids(values: Iterable[str]) -> list[int]:
    """Return the distinct integer ids posted by the explorer's checkboxes.

    Raises:
        SelectionError: a value is not an id, or there are too many to post explicitly.
    """
    ids: set[int] = set()
    for value in values:
        try:
            number = int(value)
        except (TypeError, ValueError):
            number = 0
        if not 1 <= number <= MAX_ID:
            shown = str(value)[:40]
            raise SelectionError(f"“{shown}” is not a work item id.")
        ids.add(number)
    if len(ids) > MAX_EXPLICIT_IDS:
        raise SelectionError(
            f"{len(ids)} items were ticked; at most {MAX_EXPLICIT_IDS} can be posted. "
            "Use “select all matching this filter” instead."
        )
    return sorted(ids)


def one_team(
    scope: Scope, items: QuerySet[WorkItem], team_id: int | None
) -> QuerySet[WorkItem]:
    """Return the selection limited to one team's workspaces.

    Raises:
        SelectionError: `team_id` is none of the user's teams, or no team was chosen and the
            selection holds items of several teams.
    """
    teams = {w.team_id: w.team for w in scope.workspaces.values()}
    if team_id is not None:
        if team_id not in teams:
            raise SelectionError("Choose one of your teams.")
        return items.filter(
            workspace_id__in=[
                pk for pk, w in scope.workspaces.items() if w.team_id == team_id
            ]
        )
    spanned = {
        scope.workspaces[ws].team_id
        for ws in items.order_by().values_list("workspace_id", flat=True).distinct()
    }
    if len(spanned) > 1:
        names = ", ".join(sorted(teams[t].name for t in spanned))
        raise SelectionError(
            f"This selection holds items of {len(spanned)} teams ({names}); a bulk "
            "operation acts in one team. Choose the team."
        )
    return items


# --- the draft (preview) ---------------------------------------------------------------------

_ROW = (
    "pk",
    "workspace_id",
    "external_id",
    "process_id",
    "state",
    "state_updated_at",
    "exception_type",
    "exception_code",
    "gone_at",
)


def create_draft(
    user: User | AnonymousUser,
    *,
    action: str,
    filter_query: str = "",
    ids: Sequence[int] | None = None,
    team_id: int | None = None,
    patch: Any = None,
    patch_kind: str = "",
) -> BulkOperation:
    """Freeze a selection as a draft operation (its preview) and return it.

    A retry with patch freezes each item's patched payload; items the patch does not apply
    to, or leaves invalid under the process's schema, are not eligible.

    An operation acts in one team: a selection spanning teams is refused unless `team_id`
    narrows it to one of them.

    Raises:
        SelectionError: unknown action, invalid filter, nothing selected, several teams, or
            too many items.
    """
    if action not in Action.values:
        raise SelectionError(f"Unknown action {action!r}.")
    if action == Action.RETRY_WITH_PATCH and patch_kind not in KINDS:
        raise SelectionError("A retry with patch needs a patch.")
    if not user.is_authenticated:
        raise SelectionError("Sign in to act on work items.")
    scope = Scope.for_user(user)
    query = filter_only(filter_query) if ids is None else ""
    items = one_team(scope, selected_items(scope, filter_query=query, ids=ids), team_id)
    cap = conf.max_items()
    # One row past the cap is enough to refuse: a filter matching millions is never loaded.
    rows = list(items.order_by("workspace_id", "pk").values_list(*_ROW)[: cap + 1])
    if not rows:
        raise SelectionError("No work item matches this selection.")
    if len(rows) > cap:
        raise SelectionError(
            f"{items.count()} items match; one operation may hold at most {cap}. "
            "Narrow the filter."
        )
    claimed = dict(
        BulkItem.held()
        .filter(work_item_id__in=items.values("pk"))
        .values_list("work_item_id", "operation_id")
    )
    names = dict(
        Process.objects.filter(pk__in={r[3] for r in rows}).values_list("pk", "name")
    )
    ws_reasons = {
        pk: scope.why_not(ws, "item_actions") for pk, ws in scope.workspaces.items()
    }
    with transaction.atomic():
        op = BulkOperation.objects.create(
            action=action,
            selection=BulkOperation.Selection.IDS
            if ids is not None
            else BulkOperation.Selection.FILTER,
            filter_query=query,
            selected_ids=list(ids) if ids is not None else [],
            team_ids=sorted({scope.workspaces[r[1]].team_id for r in rows}),
            created_by=user,
            created_by_label=user.get_username(),
            patch=patch if action == Action.RETRY_WITH_PATCH else None,
            patch_kind=patch_kind if action == Action.RETRY_WITH_PATCH else "",
        )
        frozen = [_frozen_row(row, names, ws_reasons, claimed) for row in rows]
        if action == Action.RETRY_WITH_PATCH:
            _freeze_patched(op, frozen, scope)
        frozen_items.insert(op.pk, frozen)
        eligible = sum(1 for f in frozen if f.state == BulkItem.State.PENDING)
        op.total, op.ineligible = eligible, len(frozen) - eligible
        op.save(update_fields=["total", "ineligible"])
    return op


def _frozen_row(
    row: tuple[Any, ...],
    names: dict[int, str],
    ws_reasons: dict[int, str],
    claimed: dict[int, int],
) -> frozen_items.Frozen:
    pk, ws_id, ext, proc, state, updated, etype, ecode, gone = row
    reason = ws_reasons.get(ws_id, "") or item_state_reason(state, gone)
    if not reason and pk in claimed:
        reason = f"Already in bulk operation #{claimed[pk]}, which has not finished."
    return frozen_items.Frozen(
        work_item_id=pk,
        workspace_id=ws_id,
        external_id=ext,
        process_id=proc,
        process_name=names.get(proc, "")[:300],
        preview_state=state,
        preview_state_updated_at=updated,
        exception_type=etype,
        exception_code=ecode,
        state=BulkItem.State.INELIGIBLE if reason else BulkItem.State.PENDING,
        reason=reason,
    )


def _freeze_patched(
    op: BulkOperation, items: list[frozen_items.Frozen], scope: Scope
) -> None:
    """Compute each eligible item's patched payload, or why it is not eligible."""
    eligible = {b.work_item_id: b for b in items if b.state == BulkItem.State.PENDING}
    fields = ("pk", "payload", "payload_synced_at", "process_external_id")
    rows = WorkItem.objects.filter(pk__in=list(eligible)).values(*fields)
    for row in rows.iterator(chunk_size=500):
        bulk_item = eligible[row["pk"]]
        workspace = scope.workspaces[bulk_item.workspace_id]
        patched, reason = patched_or_reason(workspace, row, op.patch, op.patch_kind)
        if reason:
            bulk_item.state, bulk_item.reason = BulkItem.State.INELIGIBLE, reason
        else:
            bulk_item.patched_payload = patched


def patch_preview(op: BulkOperation, sample: int = 3) -> list[SampleDiff]:
    """The payload diff of the first few items a retry with patch will change."""
    if op.action != Action.RETRY_WITH_PATCH:
        return []
    picked = list(
        BulkItem.objects.filter(operation=op, patched_payload__isnull=False)
        .exclude(state=BulkItem.State.INELIGIBLE)
        .order_by("pk")
        .values_list("work_item_id", "external_id", "patched_payload")[:sample]
    )
    before = dict(
        WorkItem.objects.filter(pk__in=[p[0] for p in picked]).values_list(
            "pk", "payload"
        )
    )
    return sample_diffs([(ext, before.get(pk), after) for pk, ext, after in picked])


@dataclass(frozen=True)
class Breakdown:
    by_workspace: list[tuple[str, int]]
    by_process: list[tuple[str, str, int]]
    by_state: list[tuple[str, int]]
    by_exception: list[tuple[str, str, int]]
    ineligible: list[tuple[str, int]]

    @property
    def business(self) -> int:
        """Eligible items failed with a business exception: triage says fix the data or mark
        them done, so a plain retry is likely to fail the same way."""
        return sum(n for etype, _code, n in self.by_exception if etype == "business")


def breakdown(op: BulkOperation) -> Breakdown:
    """Return the preview's counts (eligible items) and the ineligible items grouped by reason."""
    eligible = BulkItem.objects.filter(operation=op).exclude(
        state=BulkItem.State.INELIGIBLE
    )
    ws_names = dict(
        Workspace.objects.filter(pk__in=eligible.values("workspace_id")).values_list(
            "pk", "name"
        )
    )

    def grouped(qs: QuerySet[BulkItem], *fields: str) -> list[tuple[Any, ...]]:
        return [
            (*r[:-1], r[-1])
            for r in qs.values_list(*fields)
            .annotate(n=Count("id"))
            .order_by("-n", *fields)
        ]

    return Breakdown(
        by_workspace=[
            (ws_names.get(w, str(w)), n) for w, n in grouped(eligible, "workspace_id")
        ],
        by_process=[
            (name, ws_names.get(w, ""), n)
            for w, name, n in grouped(eligible, "workspace_id", "process_name")
        ],
        by_state=grouped(eligible, "preview_state"),
        by_exception=grouped(eligible, "exception_type", "exception_code"),
        ineligible=grouped(
            BulkItem.objects.filter(operation=op, state=BulkItem.State.INELIGIBLE),
            "reason",
        ),
    )


# --- confirming --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Drift:
    added: int  # eligible now, matching the selection, not in the preview at all
    changed: int  # eligible in the preview, changed state since (or gone)
    removed: int  # eligible in the preview, unchanged, but no longer matching

    @property
    def any(self) -> bool:
        return bool(self.added or self.removed or self.changed)


def drift(op: BulkOperation, user: User | AnonymousUser) -> Drift:
    """Compare the frozen preview with the selection recomputed now.

    Each previewed item counts once; items the preview found ineligible (failed but claimed
    by another operation, a viewer's, a workspace without the permission) are not new: they
    were in the preview.
    """
    scope = Scope.for_user(user)
    try:
        current = selected_items(
            scope,
            filter_query=op.filter_query,
            ids=op.selected_ids
            if op.selection == BulkOperation.Selection.IDS
            else None,
        ).filter(workspace__team_id__in=op.team_ids)
    except SelectionError:
        current = WorkItem.objects.none()
    frozen = BulkItem.objects.filter(operation=op)
    new_eligible = (
        current.filter(state="failed", gone_at__isnull=True)
        .exclude(pk__in=frozen.values("work_item_id"))
        .count()
    )
    pending = frozen.filter(state=BulkItem.State.PENDING)
    moved = (
        ~Q(work_item__state=F("preview_state"))
        | ~Q(work_item__state_updated_at=F("preview_state_updated_at"))
        | Q(work_item__gone_at__isnull=False)
    )
    changed = pending.filter(moved).count()
    removed = (
        pending.exclude(moved).exclude(work_item_id__in=current.values("pk")).count()
    )
    return Drift(added=new_eligible, removed=removed, changed=changed)


def expires_at(op: BulkOperation) -> datetime:
    """When a draft stops being confirmable (WORKROOM_BULK_DRAFT_TTL_HOURS after its preview)."""
    return op.created_at + timedelta(hours=conf.draft_ttl_hours())


def is_expired(op: BulkOperation, now: datetime | None = None) -> bool:
    return op.state == BulkOperation.State.DRAFT and expires_at(op) <= (
        now or timezone.now()
    )


def discard(op: BulkOperation) -> bool:
    """Delete a preview nobody will confirm (with its frozen items); False if it was
    confirmed meanwhile (then it is an operation, and is kept)."""
    return _delete_draft(
        BulkOperation.objects.filter(state=BulkOperation.State.DRAFT), op.pk
    )


def _delete_draft(drafts: QuerySet[BulkOperation], pk: int) -> bool:
    with transaction.atomic():
        # The conditional UPDATE locks the row (PostgreSQL), so a confirm racing the
        # deletion either wins before it or finds the draft gone.
        if not drafts.filter(pk=pk).update(created_at=F("created_at")):
            return False
        BulkItem.objects.filter(operation_id=pk).delete()
        BulkOperation.objects.filter(pk=pk).delete()
        return True


def purge_expired_drafts(now: datetime | None = None) -> int:
    """Delete drafts past their lifetime (with their frozen items); return how many.

    Idempotent: a draft confirmed meanwhile is no longer a draft and is kept.
    """
    cutoff = (now or timezone.now()) - timedelta(hours=conf.draft_ttl_hours())
    expired = BulkOperation.objects.filter(
        state=BulkOperation.State.DRAFT, created_at__lte=cutoff
    )
    return sum(
        _delete_draft(expired, pk)
        for pk in list(expired.values_list("pk", flat=True)[:1000])
    )


def confirm(
    op: BulkOperation,
    user: User | AnonymousUser,
    *,
    reason: str,
    actor: Actor | None = None,
    include_verified: bool = False,
) -> BulkOperation:
    """Confirm a draft: claim its items, write its chunks, enqueue them after commit.

    A mark done or delete starts after the undo window (WORKROOM_UNDO_SECONDS): cancelling
    the operation until then sends nothing. A retry leaves the items reviewed as "verified"
    alone unless `include_verified`.

    Items another unfinished operation holds are skipped. Drift from the preview is recorded on
    the operation (the frozen set is what runs; items that changed are skipped at execution).

    The creator's right to act is checked again here: a preview made before a demotion or
    before leaving the team cannot be confirmed, nor one past its lifetime.

    Raises:
        SelectionError: not a draft, not the creator's, expired, the creator may not act in
            the team any more, no reason given, nothing left to run.
    """
    reason = (reason or "").strip()
    if not reason:
        raise SelectionError("Give a reason: it is recorded in the audit log.")
    if op.created_by_id != getattr(user, "pk", None):
        raise SelectionError("Only the operator who made this preview can confirm it.")
    if is_expired(op):
        raise SelectionError(expired_message(op))
    refusal = act_refusal(user, op)
    if refusal:
        raise SelectionError(refusal)
    found = drift(op, user)
    for attempt in range(5):
        try:
            chunk_ids = _claim_and_chunk(op, reason, found, include_verified)
            break
        except IntegrityError:
            # PostgreSQL: another operation claimed one of our items concurrently; the next
            # attempt sees its committed claim and skips that item.
            if attempt == 4:
                raise
            time.sleep(0.05 * (attempt + 1))
    op.refresh_from_db()
    _audit_confirmed(op, actor or Actor.of(user))
    from dashboard.bulk.execution import enqueue_chunks_on_commit

    enqueue_chunks_on_commit(chunk_ids)
    return op


def expired_message(op: BulkOperation) -> str:
    return (
        f"This preview expired at {expires_at(op):%Y-%m-%d %H:%M} UTC (previews can be "
        f"confirmed for {conf.draft_ttl_hours()} hours). Make a new preview."
    )


def verified_count(op: BulkOperation) -> int:
    """How many items of a retry preview the team reviewed as "verified" (left alone unless
    the operator includes them)."""
    if op.action not in ("retry", Action.RETRY_WITH_PATCH):
        return 0
    return len(
        verified_ids(
            BulkItem.objects.filter(
                operation=op, state=BulkItem.State.PENDING
            ).values_list("work_item_id", flat=True)
        )
    )


def held_until(op: BulkOperation, now: datetime) -> datetime:
    """When a confirmed operation may start: after the undo window for mark done / delete
    (cancelling before then sends nothing), at once for a retry."""
    if op.action in HELD_ACTIONS:
        return now + timedelta(seconds=window_seconds())
    return now


def _claim_and_chunk(
    op: BulkOperation, reason: str, found: Drift, include_verified: bool = False
) -> list[int]:
    now = timezone.now()
    with transaction.atomic():
        if not BulkOperation.objects.filter(
            pk=op.pk,
            state=BulkOperation.State.DRAFT,
            created_at__gt=now - timedelta(hours=conf.draft_ttl_hours()),
        ).update(
            state=BulkOperation.State.QUEUED,
            reason=reason,
            include_verified=include_verified,
            confirmed_at=now,
            drift_added=found.added,
            drift_removed=found.removed,
            drift_changed=found.changed,
        ):
            raise SelectionError("This preview was already confirmed, or has expired.")
        pending = BulkItem.objects.filter(operation=op, state=BulkItem.State.PENDING)
        taken = dict(
            BulkItem.held()
            .filter(work_item_id__in=pending.values("work_item_id"))
            .exclude(operation=op)
            .values_list("work_item_id", "operation_id")
        )
        for other in set(taken.values()):
            ids = [w for w, o in taken.items() if o == other]
            pending.filter(work_item_id__in=ids).update(
                state=BulkItem.State.SKIPPED,
                reason=f"Already being processed by bulk operation #{other}.",
                finished_at=now,
            )
        to_claim = list(
            pending.exclude(work_item_id__in=list(taken))
            .order_by("workspace_id", "pk")
            .values_list("pk", "workspace_id")
        )
        if not to_claim:
            raise SelectionError(
                "Every item of this preview is already being processed by another "
                "operation; nothing to do."
            )
        BulkOperation.objects.filter(pk=op.pk).update(
            queued_count=len(to_claim), skipped_count=len(taken)
        )
        if needs_approval(op, len(to_claim)):
            # Claimed, but nothing is scheduled before a second person approves.
            pending.exclude(work_item_id__in=list(taken)).update(
                state=BulkItem.State.QUEUED
            )
            BulkOperation.objects.filter(pk=op.pk).update(
                state=BulkOperation.State.AWAITING_APPROVAL
            )
            return []
        # Each chunk claims its items when it first runs (pending → queued): updating
        # 100,000 item rows here was most of a large confirm, and no chunk ran before it
        # committed. Until then the items count as held (`BulkItem.held`).
        return write_chunks(op, held_until(op, now), claim=to_claim)


def write_chunks(
    op: BulkOperation, now: datetime, *, claim: list[tuple[int, int]] | None = None
) -> list[int]:
    """Split the queued items (or the pending ones of `claim`, (pk, workspace) in order,
    which each chunk claims when it first runs) into chunks per workspace and schedule
    them (throttle)."""
    size = conf.chunk_size()
    rows = claim
    if rows is None:
        rows = list(
            BulkItem.objects.filter(operation=op, state=BulkItem.State.QUEUED)
            .order_by("workspace_id", "pk")
            .values_list("pk", "workspace_id")
        )
    spans: list[tuple[int, int, int, int]] = []  # (workspace, first pk, last pk, n)
    parts: list[list[int]] = []
    by_ws: dict[int, list[int]] = {}
    for pk, ws in rows:
        by_ws.setdefault(ws, []).append(pk)
    for ws, pks in by_ws.items():
        for start in range(0, len(pks), size):
            part = pks[start : start + size]
            spans.append((ws, part[0], part[-1], len(part)))
            parts.append(part)
    due = _schedule(spans, now)
    chunks = BulkChunk.objects.bulk_create(
        [
            BulkChunk(
                operation=op,
                workspace_id=ws,
                seq=i,
                size=n,
                not_before=due[i],
                first_item_id=first if claim is not None else None,
                last_item_id=last if claim is not None else None,
            )
            for i, (ws, first, last, n) in enumerate(spans)
        ]
    )
    if claim is None:
        for chunk, part in zip(chunks, parts, strict=True):
            # By primary key: a range over (operation, state) read the whole operation's
            # items for every chunk (1,000 chunks x 100,000 rows at 100k items).
            BulkItem.objects.filter(pk__in=part).update(chunk=chunk)
    return [c.pk for c in chunks]


def _schedule(spans: list[tuple[int, int, int, int]], now: datetime) -> list[datetime]:
    """Return each chunk's earliest send time under the per-workspace items-per-minute cap."""
    rate = conf.max_items_per_minute()
    if not rate:
        return [now] * len(spans)
    due: list[datetime] = []
    sizes: dict[int, int] = {}
    starts: dict[int, datetime] = {}
    for ws in {s[0] for s in spans}:
        total = sum(s[3] for s in spans if s[0] == ws)
        starts[ws] = _reserve(ws, timedelta(seconds=60.0 * total / rate), now)
        sizes[ws] = 0
    for ws, _a, _b, n in spans:
        due.append(starts[ws] + timedelta(seconds=60.0 * sizes[ws] / rate))
        sizes[ws] += n
    return due


def _reserve(workspace_id: int, span: timedelta, now: datetime) -> datetime:
    """Reserve `span` of the workspace's send schedule; return when our window starts.

    Optimistic concurrency (compare-and-set on `next_free_at`), so two confirms at once get
    consecutive windows on SQLite and PostgreSQL alike.
    """
    BulkThrottle.objects.get_or_create(workspace_id=workspace_id)
    while True:
        current = BulkThrottle.objects.get(pk=workspace_id).next_free_at
        start = max(current, now)
        if BulkThrottle.objects.filter(pk=workspace_id, next_free_at=current).update(
            next_free_at=start + span
        ):
            return start


def _audit_confirmed(op: BulkOperation, actor: Actor) -> None:
    verb = op.get_action_display().lower()
    for team_id in op.team_ids:
        n = BulkItem.objects.filter(
            operation=op,
            state__in=(BulkItem.State.PENDING, BulkItem.State.QUEUED),
            workspace__team_id=team_id,
        ).count()
        if not n:
            continue
        audit.record_by(
            actor,
            team=Team.objects.get(pk=team_id),
            action=f"bulk.{op.action}.confirmed",
            obj=op,
            summary=(
                f"Bulk {verb} of {n} work items "
                + (
                    "waits for a second person's approval"
                    if op.state == BulkOperation.State.AWAITING_APPROVAL
                    else "started"
                )
                + f": {op.reason}"
            ),
            data={
                "operation_id": op.pk,
                "action": op.action,
                "items": n,
                "reason": op.reason,
                "selection": op.selection,
                "filter": op.filter_query,
                "drift": {
                    "added": op.drift_added,
                    "removed": op.drift_removed,
                    "changed": op.drift_changed,
                },
            },
        )
