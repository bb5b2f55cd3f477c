"""Reads of the bulk pages: which operations a user may see, status notes, per-item results."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone

from dashboard.accounts.models import Membership, Role, User
from dashboard.bulk import conf
from dashboard.bulk.models import BulkChunk, BulkItem, BulkOperation
from dashboard.mirror.models import WorkItem
from dashboard.workitems.undo import HELD_ACTIONS, window_seconds

MAX_ID = 2**63 - 1
RESULT_STATES = ("done", "skipped", "failed", "cancelled", "queued", "in_flight")


def operations_for(user: User | AnonymousUser) -> QuerySet[BulkOperation]:
    """Return the operations of the user's teams (drafts only their creator's).

    Membership is what counts, not authorship: someone who left a team no longer sees the
    operations they made there.
    """
    if not user.is_authenticated:
        return BulkOperation.objects.none()
    team_ids = list(
        Membership.objects.filter(user=user).values_list("team_id", flat=True)
    )
    if not team_ids:
        return BulkOperation.objects.none()
    # An operation acts in one team (team_ids holds one id). Rows made before that rule may
    # hold two: they are shown only to members of both.
    in_my_teams = Q(team_ids__0__in=team_ids) & (
        Q(team_ids__1__isnull=True) | Q(team_ids__1__in=team_ids)
    )
    return BulkOperation.objects.filter(in_my_teams).filter(
        ~Q(state=BulkOperation.State.DRAFT) | Q(created_by=user)
    )


def _roles(user: User | AnonymousUser, op: BulkOperation) -> list[int] | None:
    """The user's role in each of the operation's teams; None unless a member of all."""
    if not user.is_authenticated or not op.team_ids:
        return None
    roles = dict(
        Membership.objects.filter(user=user, team_id__in=op.team_ids).values_list(
            "team_id", "role"
        )
    )
    if set(roles) != set(op.team_ids):
        return None
    return list(roles.values())


def act_refusal(user: User | AnonymousUser, op: BulkOperation) -> str:
    """Return why the user may not confirm or cancel the operation now ("" = may).

    Asked again at every step (confirm, cancel, each chunk), never remembered from an
    earlier one: roles change and members leave while an operation lives.
    """
    roles = _roles(user, op)
    if roles is None:
        return "Only members of the operation's team can act on it."
    if min(roles) < Role.OPERATOR:
        return "Confirming or cancelling a bulk operation needs the operator role."
    return ""


def operation_for(
    user: User | AnonymousUser, op_id: int, *, act: bool = False
) -> BulkOperation:
    """Return the operation if the user may see it (act: may confirm or cancel it), else raise.

    Its creator included, only members of the operation's team see it, and only operators act.

    Raises:
        Http404: no such operation, or none of the user's business (not a member of its team,
            someone else's draft).
        PermissionDenied: (act) the user may see it but not act on it.
    """
    if not 1 <= op_id <= MAX_ID:  # SQLite cannot compare a larger number
        raise Http404("No such bulk operation.")
    op = BulkOperation.objects.filter(pk=op_id).select_related("created_by").first()
    if op is None or _roles(user, op) is None:
        raise Http404("No such bulk operation.")
    if op.state == BulkOperation.State.DRAFT and op.created_by_id != user.pk:
        raise Http404("No such bulk operation.")
    if act and (refusal := act_refusal(user, op)):
        raise PermissionDenied(refusal)
    return op


@dataclass(frozen=True)
class Status:
    text: str
    level: str = "info"


def undo_window_ends(op: BulkOperation) -> datetime | None:
    """When a confirmed mark done / delete leaves its undo window (None: not in one).
    Until then nothing was sent, so cancelling it undoes it."""
    if op.action not in HELD_ACTIONS or op.state != BulkOperation.State.QUEUED:
        return None
    if op.confirmed_at is None or op.cancel_requested_at is not None:
        return None
    first = (
        BulkChunk.objects.filter(operation=op)
        .order_by("not_before")
        .values_list("not_before", flat=True)
        .first()
    )
    window_end = op.confirmed_at + timedelta(seconds=window_seconds() + 1)
    if first is None or first <= timezone.now() or first > window_end:
        return None
    return first


def status_note(op: BulkOperation) -> Status | None:
    """Return what the operator should know about a queued / slowed operation."""
    if not op.is_active:
        return None
    now = timezone.now()
    chunks = BulkChunk.objects.filter(operation=op, state=BulkChunk.State.QUEUED)
    if op.cancel_requested_at:
        return Status("Cancelling: the chunk being sent finishes, the rest is not run.")
    if op.state == BulkOperation.State.QUEUED:
        ends = undo_window_ends(op)
        if ends is not None:
            return Status(
                f"Waiting for the undo window: starts at {ends:%H:%M:%S} UTC. "
                "Cancel before then and nothing is sent to Control Room."
            )
        if chunks.filter(enqueued_at__isnull=True, not_before__lte=now).exists():
            return Status(
                "Queued — waiting for a worker: the task broker could not be reached. "
                "Nothing is lost; the operation starts by itself when it is back.",
                "warning",
            )
        if op.confirmed_at and op.confirmed_at < now - timedelta(seconds=5):
            return Status("Queued — waiting for a worker.", "warning")
        return Status("Queued.")
    limited = chunks.filter(rate_limited__gt=0, not_before__gt=now).first()
    if limited is not None:
        return Status(
            "Control Room is rate-limiting requests: slowing down, next attempt at "
            f"{limited.not_before:%H:%M:%S} UTC. The operation continues by itself.",
            "warning",
        )
    rate = conf.max_items_per_minute()
    if rate and chunks.filter(not_before__gt=now).exists():
        return Status(f"Throttled to {rate} items per minute per workspace.")
    return None


def results(op: BulkOperation, state: str = "") -> QuerySet[BulkItem]:
    """A confirmed operation's items (`BulkItem.result_state`: those still pending wait
    for their chunk to claim them, and show as queued)."""
    items = BulkItem.objects.filter(operation=op).exclude(
        state=BulkItem.State.INELIGIBLE
    )
    if state == BulkItem.State.QUEUED:
        items = items.filter(state__in=(BulkItem.State.QUEUED, BulkItem.State.PENDING))
    elif state in RESULT_STATES:
        items = items.filter(state=state)
    return items.order_by("id")


def item_operations(item: WorkItem, *, limit: int = 20) -> list[BulkItem]:
    """Return the bulk operations that acted (or tried to) on one work item, newest first.

    For the item detail's history: a BulkItem row per (operation, item) is the per-item link.
    """
    return list(
        BulkItem.objects.filter(work_item=item)
        .exclude(state=BulkItem.State.INELIGIBLE)
        .exclude(state=BulkItem.State.PENDING, operation__confirmed_at__isnull=True)
        .select_related("operation")
        .order_by("-operation__confirmed_at", "-id")[:limit]
    )
