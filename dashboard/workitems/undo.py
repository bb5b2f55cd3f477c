"""The undo window: a mark done or a delete is held `WORKROOM_UNDO_SECONDS` before it is sent
to Control Room, and can be undone until then. A retry is sent at once (it is harmless to
repeat and people wait for it).

A held action is a `PendingAction` row plus a Celery task due when the window ends. Sending
claims the row by a conditional UPDATE (pending → sending), so the task delivered twice, the
beat sweep and an undo racing it never send twice or send an undone action. A worker that
dies while sending leaves the row "sending"; the sweep sends it again after a while, and the
action core's eligibility check skips the items already done.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from dashboard.audit.services import Actor, record_by
from dashboard.lib.errors import WorkroomError
from dashboard.lib.secretbox import SecretUnavailable
from dashboard.mirror.models import WorkItem
from dashboard.workitems import actions
from dashboard.workitems.actions import Deferred, Outcome, Target
from dashboard.workitems.models import PendingAction
from dashboard.workspaces.errors import describe
from dashboard.workspaces.services import build_client

logger = logging.getLogger(__name__)

HELD_ACTIONS = ("mark_as_done", "delete")
# A row left "sending" this long belongs to a worker that died: send it again.
SENDING_STALE_AFTER = timedelta(minutes=5)


class UndoError(WorkroomError):
    """The held action cannot be undone (already sent, or not the actor's to undo)."""


def window_seconds() -> int:
    return int(settings.WORKROOM_UNDO_SECONDS)


def is_held(action: str) -> bool:
    """Whether this action waits for the undo window (never a retry)."""
    return action in HELD_ACTIONS and window_seconds() > 0


def hold(action: str, items: Sequence[WorkItem], actor: Actor) -> PendingAction:
    """Hold the action on the items for the undo window; it is sent when the window ends.

    Raises:
        UndoError: the items are of several workspaces, or the actor may not act there.
    """
    if action not in HELD_ACTIONS or not items:
        raise UndoError(f"Only {', '.join(HELD_ACTIONS)} wait for the undo window.")
    if len({i.workspace_id for i in items}) != 1:
        raise UndoError("Choose items of one workspace at a time.")
    workspace = items[0].workspace
    why = actions.actor_refusal(actor, workspace)
    if why:
        raise UndoError(why)
    now = timezone.now()
    with transaction.atomic():
        pending = PendingAction.objects.create(
            workspace=workspace,
            action=action,
            work_item_ids=[i.pk for i in items],
            actor=actor.user,
            actor_label=actor.label,
            actor_ip=actor.ip,
            actor_agent=actor.user_agent,
            due_at=now + timedelta(seconds=window_seconds()),
        )
        record_by(
            actor,
            team=workspace.team,
            action="work_item.hold",
            # One item: the event is the item's, so its history tells the story.
            obj=items[0] if len(items) == 1 else pending,
            summary=(
                f"{actions.ACTION_LABELS[action]} of {len(items)} item(s) held for "
                f"{window_seconds()} s before it is sent (undo possible)"
            ),
            data={
                "workspace_id": workspace.pk,
                "action": action,
                "work_item_ids": [i.external_id for i in items][:1000],
            },
        )
        transaction.on_commit(lambda: _enqueue(pending))
    return pending


def _enqueue(pending: PendingAction) -> None:
    from dashboard.workitems.tasks import send_pending_action

    try:
        options: dict[str, Any] = {"eta": pending.due_at}
        if settings.WORKROOM_UNDO_QUEUE:
            options["queue"] = settings.WORKROOM_UNDO_QUEUE
        send_pending_action.apply_async((pending.pk,), **options)
    except Exception as err:  # broker down: the beat sweep sends it once due
        logger.warning("could not enqueue held action %s: %s", pending.pk, err)


def undo(pending_id: int, actor: Actor) -> PendingAction:
    """Cancel a held action before it is sent; audited.

    Raises:
        UndoError: it was already sent (or is being sent), or the actor may not undo it.
    """
    pending = PendingAction.objects.select_related("workspace__team").get(pk=pending_id)
    why = actions.actor_refusal(actor, pending.workspace)
    if why:
        raise UndoError(why)
    now = timezone.now()
    claimed = PendingAction.objects.filter(
        pk=pending.pk, status=PendingAction.Status.PENDING
    ).update(status=PendingAction.Status.UNDONE, decided_at=now)
    if not claimed:
        raise UndoError("Too late to undo: it was already sent to Control Room.")
    items = list(WorkItem.objects.filter(pk__in=pending.work_item_ids))
    record_by(
        actor,
        team=pending.workspace.team,
        action="work_item.undo",
        obj=items[0] if len(items) == 1 else pending,
        summary=(
            f"Undid {actions.ACTION_LABELS[pending.action].lower()} of "
            f"{len(items)} item(s) before it was sent"
        ),
        data={
            "workspace_id": pending.workspace_id,
            "action": pending.action,
            "work_item_ids": [i.external_id for i in items][:1000],
            "held_by": pending.actor_label,
        },
    )
    pending.refresh_from_db()
    return pending


@dataclass(frozen=True)
class SendOutcome:
    status: str
    retry_in: float | None = None


def send(pending_id: int) -> SendOutcome:
    """Send a held action whose window has ended, through the action core (idempotent)."""
    now = timezone.now()
    claimed = PendingAction.objects.filter(
        pk=pending_id, status=PendingAction.Status.PENDING, due_at__lte=now
    ).update(status=PendingAction.Status.SENDING, decided_at=now)
    if not claimed:
        early = PendingAction.objects.filter(
            pk=pending_id, status=PendingAction.Status.PENDING
        ).values_list("due_at", flat=True)
        if early:  # delivered before its time (ETAs are approximate): wait for it
            return SendOutcome("early", max(0.5, (early[0] - now).total_seconds()))
        stale = PendingAction.objects.filter(
            pk=pending_id,
            status=PendingAction.Status.SENDING,
            decided_at__lt=now - SENDING_STALE_AFTER,
        ).update(decided_at=now)
        if not stale:
            return SendOutcome("not-due-or-decided")
    pending = PendingAction.objects.select_related("workspace__team", "actor").get(
        pk=pending_id
    )
    actor = Actor(
        user=pending.actor,
        label=pending.actor_label,
        ip=pending.actor_ip,
        user_agent=pending.actor_agent,
    )
    items = list(WorkItem.objects.filter(pk__in=pending.work_item_ids).order_by("pk"))
    try:
        client = build_client(pending.workspace)
    except SecretUnavailable as err:
        # The key cannot be decrypted: nothing can be sent, now or on a later sweep.
        PendingAction.objects.filter(pk=pending_id).update(
            status=PendingAction.Status.SENT,
            decided_at=timezone.now(),
            outcome={"counts": {"failed": len(items)}, "messages": [describe(err)]},
        )
        return SendOutcome("failed")
    try:
        with client:
            verdicts = actions.apply(
                actions.BATCH_ACTIONS[pending.action],
                [Target.of(i) for i in items],
                actor,
                workspace=pending.workspace,
                client=client,
            )
    except Deferred as err:
        # Nothing certain was sent: back to pending, due again after the pause asked for.
        retry_in = err.retry_after or 10.0
        PendingAction.objects.filter(pk=pending_id).update(
            status=PendingAction.Status.PENDING,
            due_at=timezone.now() + timedelta(seconds=retry_in),
        )
        return SendOutcome("deferred", retry_in)
    counts: dict[str, int] = {}
    for verdict in verdicts:
        counts[verdict.outcome.value] = counts.get(verdict.outcome.value, 0) + 1
    PendingAction.objects.filter(pk=pending_id).update(
        status=PendingAction.Status.SENT,
        decided_at=timezone.now(),
        outcome={
            "counts": counts,
            "messages": [v.message for v in verdicts if v.outcome is not Outcome.DONE][
                :20
            ],
        },
    )
    return SendOutcome("sent")


def send_overdue() -> int:
    """Send every held action whose window ended (the beat sweep; a lost task message or a
    dead worker delays an action by at most one sweep); return how many were sent."""
    now = timezone.now()
    due = list(
        PendingAction.objects.filter(
            status=PendingAction.Status.PENDING, due_at__lte=now
        ).values_list("pk", flat=True)[:500]
    ) + list(
        PendingAction.objects.filter(
            status=PendingAction.Status.SENDING,
            decided_at__lt=now - SENDING_STALE_AFTER,
        ).values_list("pk", flat=True)[:500]
    )
    return sum(1 for pk in due if send(pk).status == "sent")


def pending_for_items(items: Sequence[WorkItem]) -> list[PendingAction]:
    """Return the held actions (still undoable) that include any of these items."""
    ids = {i.pk for i in items}
    return [
        p
        for p in PendingAction.objects.filter(
            status=PendingAction.Status.PENDING,
            workspace_id__in={i.workspace_id for i in items},
        )
        if ids & set(p.work_item_ids)
    ]
