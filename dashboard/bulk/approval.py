"""Two-person approval: a team may require that a bulk mark done or delete of more than N
items waits, once confirmed, until another operator or admin approves it. Its items are
claimed at confirm (no other operation takes them); nothing is sent before the approval.
Nobody approves their own operation; approving, rejecting and setting the threshold are
audited. An approved mark done / delete still starts after the undo window."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.utils import timezone

from dashboard.accounts.models import Membership, Role, Team, User
from dashboard.audit import services as audit
from dashboard.audit.services import Actor
from dashboard.bulk.models import (
    Action,
    ApprovalPolicy,
    BulkItem,
    BulkOperation,
)
from dashboard.lib.errors import WorkroomError

APPROVED_ACTIONS = (Action.MARK_AS_DONE, Action.DELETE)


class ApprovalError(WorkroomError):
    """The approval (or rejection) was refused; `message` says why."""


def threshold(team_id: int) -> int:
    """The team's threshold (0: no approval needed)."""
    return (
        ApprovalPolicy.objects.filter(team_id=team_id)
        .values_list("threshold", flat=True)
        .first()
        or 0
    )


def needs_approval(op: BulkOperation, items: int) -> bool:
    if op.action not in APPROVED_ACTIONS or len(op.team_ids) != 1:
        return False
    limit = threshold(op.team_ids[0])
    return bool(limit) and items > limit


def set_threshold(team: Team, value: int, actor: Actor) -> ApprovalPolicy:
    policy, _ = ApprovalPolicy.objects.update_or_create(
        team=team, defaults={"threshold": value, "updated_at": timezone.now()}
    )
    audit.record_by(
        actor,
        team=team,
        action="bulk.approval_policy",
        obj=team,
        summary=(
            f"Bulk mark done / delete above {value} items now need a second person's approval"
            if value
            else "Bulk operations no longer need a second person's approval"
        ),
        data={"threshold": value},
    )
    return policy


def _approver_refusal(op: BulkOperation, user: User | AnonymousUser) -> str:
    if not user.is_authenticated:
        return "Sign in to approve."
    if op.created_by_id == user.pk:
        return "Nobody approves their own operation: another operator or admin must."
    role = (
        Membership.objects.filter(user=user, team_id__in=op.team_ids)
        .values_list("role", flat=True)
        .first()
    )
    if role is None or role < Role.OPERATOR:
        return "Only an operator or admin of the team can approve."
    return ""


def approve(op: BulkOperation, user: User | AnonymousUser, actor: Actor) -> None:
    """Let a waiting operation start (its chunks are written and enqueued).

    Raises:
        ApprovalError: the user is its creator or not an operator, or it is not waiting.
    """
    from dashboard.bulk.drafts import held_until, write_chunks
    from dashboard.bulk.execution import enqueue_chunks_on_commit

    why = _approver_refusal(op, user)
    if why:
        raise ApprovalError(why)
    assert isinstance(user, User)
    now = timezone.now()
    with transaction.atomic():
        if not BulkOperation.objects.filter(
            pk=op.pk, state=BulkOperation.State.AWAITING_APPROVAL
        ).update(
            state=BulkOperation.State.QUEUED,
            approved_by=user,
            approved_by_label=user.get_username(),
            approved_at=now,
            confirmed_at=now,
        ):
            raise ApprovalError("This operation is not waiting for an approval.")
        chunk_ids = write_chunks(op, held_until(op, now))
        _audit(
            op,
            actor,
            "approved",
            f"Approved bulk {_verb(op)} #{op.pk} of {op.created_by_label}",
        )
        enqueue_chunks_on_commit(chunk_ids)


def reject(op: BulkOperation, user: User | AnonymousUser, actor: Actor) -> None:
    """Refuse a waiting operation (its creator may withdraw it): its items are released.

    Raises:
        ApprovalError: not an operator of the team, or it is not waiting.
    """
    if (
        not user.is_authenticated
        or not Membership.objects.filter(
            user=user, team_id__in=op.team_ids, role__gte=Role.OPERATOR
        ).exists()
    ):
        raise ApprovalError("Only an operator or admin of the team can reject.")
    now = timezone.now()
    with transaction.atomic():
        if not BulkOperation.objects.filter(
            pk=op.pk, state=BulkOperation.State.AWAITING_APPROVAL
        ).update(
            state=BulkOperation.State.CANCELLED,
            finished_at=now,
            cancelled_by_label=user.get_username(),
            cancel_reason="Not approved.",
        ):
            raise ApprovalError("This operation is not waiting for an approval.")
        n = BulkItem.objects.filter(operation=op, state=BulkItem.State.QUEUED).update(
            state=BulkItem.State.CANCELLED, reason="Not approved.", finished_at=now
        )
        BulkOperation.objects.filter(pk=op.pk).update(cancelled_count=n)
        _audit(
            op,
            actor,
            "rejected",
            f"Rejected bulk {_verb(op)} #{op.pk} of {op.created_by_label}",
        )


def _verb(op: BulkOperation) -> str:
    return op.get_action_display().lower()


def _audit(op: BulkOperation, actor: Actor, what: str, summary: str) -> None:
    for team in Team.objects.filter(pk__in=op.team_ids):
        audit.record_by(
            actor,
            team=team,
            action=f"bulk.{op.action}.{what}",
            obj=op,
            summary=summary,
            data={"operation_id": op.pk, "items": op.queued_count},
        )
