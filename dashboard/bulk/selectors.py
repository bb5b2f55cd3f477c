"""Reads of the bulk pages: which operations a user may see, status notes, per-item results."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone

from dashboard.accounts.models import Membership, Role, User
from dashboard.bulk import conf
from dashboard.bulk.models import BulkChunk, BulkItem, BulkOperation
from dashboard.mirror.models import WorkItem

RESULT_STATES = ("done", "skipped", "failed", "cancelled", "queued", "in_flight")


def operations_for(user: User | AnonymousUser) -> QuerySet[BulkOperation]:
    """Return the operations the user made plus those touching any of their teams (not drafts
    of other people)."""
    if not user.is_authenticated:
        return BulkOperation.objects.none()
    team_ids = list(
        Membership.objects.filter(user=user).values_list("team_id", flat=True)
    )
    mine = Q(created_by=user)
    if not team_ids:
        return BulkOperation.objects.filter(mine)
    visible = BulkOperation.objects.exclude(state=BulkOperation.State.DRAFT).filter(
        pk__in=_touching_pks(team_ids)
    )
    return BulkOperation.objects.filter(mine | Q(pk__in=visible.values("pk")))


def _touching_pks(team_ids: list[int]) -> Any:
    # Through the chunks' workspaces: JSON `contains` on team_ids is not supported on SQLite.
    return BulkOperation.objects.filter(chunks__workspace__team_id__in=team_ids).values(
        "pk"
    )


def operation_for(
    user: User | AnonymousUser, op_id: int, *, act: bool = False
) -> BulkOperation:
    """Return the operation if the user may see it (act: may cancel it), else raise Http404.

    Raises:
        Http404: no such operation, or none of the user's business.
        PermissionDenied: (act) a viewer of the operation's teams.
    """
    from django.core.exceptions import PermissionDenied

    op = BulkOperation.objects.filter(pk=op_id).select_related("created_by").first()
    if op is None or not user.is_authenticated:
        raise Http404("No such bulk operation.")
    if op.created_by_id == user.pk:
        return op
    roles = dict(
        Membership.objects.filter(user=user, team_id__in=op.team_ids).values_list(
            "team_id", "role"
        )
    )
    if not roles or op.state == BulkOperation.State.DRAFT:
        raise Http404("No such bulk operation.")
    if act and max(roles.values()) < Role.OPERATOR:
        raise PermissionDenied("Cancelling needs the operator role.")
    return op


@dataclass(frozen=True)
class Status:
    text: str
    level: str = "info"


def status_note(op: BulkOperation) -> Status | None:
    """Return what the operator should know about a queued / slowed operation."""
    if not op.is_active:
        return None
    now = timezone.now()
    chunks = BulkChunk.objects.filter(operation=op, state=BulkChunk.State.QUEUED)
    if op.cancel_requested_at:
        return Status("Cancelling: the chunk being sent finishes, the rest is not run.")
    if op.state == BulkOperation.State.QUEUED:
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
    items = BulkItem.objects.filter(operation=op).exclude(
        state__in=(BulkItem.State.PENDING, BulkItem.State.INELIGIBLE)
    )
    if state in RESULT_STATES:
        items = items.filter(state=state)
    return items.order_by("id")


def item_operations(item: WorkItem, *, limit: int = 20) -> list[BulkItem]:
    """Return the bulk operations that acted (or tried to) on one work item, newest first.

    For the item detail's history: a BulkItem row per (operation, item) is the per-item link.
    """
    return list(
        BulkItem.objects.filter(work_item=item)
        .exclude(state__in=(BulkItem.State.PENDING, BulkItem.State.INELIGIBLE))
        .select_related("operation")
        .order_by("-operation__confirmed_at", "-id")[:limit]
    )
