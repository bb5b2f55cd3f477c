"""Working on failures together: owners, review status, snoozes and comments.

Services take an `Actor`; the right to act is checked here, when the change happens (the
operator role in the item's team, `actions.actor_refusal`), and every change is audited.
An item's or a group's collaboration state never changes Control Room.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from dashboard.accounts.models import Membership, Role, Team, User
from dashboard.audit.services import Actor, record_by
from dashboard.lib.errors import WorkroomError
from dashboard.mirror.models import ProcessRun, WorkItem
from dashboard.workitems.actions import actor_refusal
from dashboard.workitems.models import (
    Comment,
    FailureGroupKey,
    ItemHandling,
    Notification,
    ReviewStatus,
)
from dashboard.workspaces.models import Workspace

logger = logging.getLogger(__name__)

MAX_COMMENT_CHARS = 5000
# Up to this many items, a change is audited on each item (its history shows it).
AUDIT_EACH_UP_TO = 200
_MENTION = re.compile(r"(?<![\w@])@([\w.+-]{1,150})")


class CollabError(WorkroomError):
    """A collaboration change that was refused; `message` says why."""


# --- groups -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupKey:
    """A triage group: what `selectors.failure_groups` groups failed items by."""

    workspace_id: int
    process_external_id: str
    exception_type: str
    exception_code: str
    signature: str

    @classmethod
    def of(cls, item: WorkItem) -> GroupKey:
        return cls(
            item.workspace_id,
            item.process_external_id,
            item.exception_type,
            item.exception_code,
            item.message_signature,
        )

    def fields(self) -> dict[str, Any]:
        return {
            "workspace_id": self.workspace_id,
            "process_external_id": self.process_external_id,
            "exception_type": self.exception_type,
            "exception_code": self.exception_code,
            "signature": self.signature,
        }

    def failed_items(self) -> QuerySet[WorkItem]:
        return WorkItem.objects.filter(
            workspace_id=self.workspace_id,
            process_external_id=self.process_external_id,
            exception_type=self.exception_type,
            exception_code=self.exception_code,
            message_signature=self.signature,
            state="failed",
            gone_at__isnull=True,
        )


def group_row(key: GroupKey) -> FailureGroupKey:
    row, _ = FailureGroupKey.objects.get_or_create(**key.fields())
    return row


def find_group_row(key: GroupKey) -> FailureGroupKey | None:
    return FailureGroupKey.objects.filter(**key.fields()).first()


# --- the right to act ---------------------------------------------------------------------------


def _require_operator(actor: Actor, workspace: Workspace) -> None:
    why = actor_refusal(actor, workspace)
    if why:
        raise CollabError(why)


def _require_member(user: User, team: Team, role: int = Role.OPERATOR) -> None:
    if not Membership.objects.filter(user=user, team=team, role__gte=role).exists():
        raise CollabError(
            f"{user.get_username()} is not an operator of {team.name}; "
            "only operators and admins can own items."
        )


def _handlings(items: Sequence[WorkItem]) -> list[ItemHandling]:
    """Return the handling rows of the items, creating the missing ones."""
    existing = {
        h.work_item_id: h
        for h in ItemHandling.objects.filter(work_item__in=[i.pk for i in items])
    }
    missing = [ItemHandling(work_item=i) for i in items if i.pk not in existing]
    if missing:
        ItemHandling.objects.bulk_create(missing, ignore_conflicts=True)
        existing = {
            h.work_item_id: h
            for h in ItemHandling.objects.filter(work_item__in=[i.pk for i in items])
        }
    return [existing[i.pk] for i in items]


def _one_workspace(items: Sequence[WorkItem]) -> Workspace:
    workspaces = {i.workspace_id for i in items}
    if len(workspaces) != 1:
        raise CollabError("Choose items of one workspace at a time.")
    return items[0].workspace


def _audit_items(
    actor: Actor, items: Sequence[WorkItem], action: str, summary: str, **data: object
) -> None:
    workspace = items[0].workspace
    if len(items) > AUDIT_EACH_UP_TO:
        # A large group: one event naming the items, not thousands of rows in one click.
        record_by(
            actor,
            team=workspace.team,
            action=action,
            summary=f"{summary} ({len(items)} work items)",
            data={
                "workspace_id": workspace.pk,
                "items": len(items),
                "work_item_ids": [i.external_id for i in items[:1000]],
                **data,
            },
        )
        return
    for item in items:
        record_by(
            actor,
            team=workspace.team,
            action=action,
            obj=item,
            summary=f"{summary} (work item {item.external_id})",
            data={
                "workspace_id": workspace.pk,
                "work_item_id": item.external_id,
                **data,
            },
        )


# --- ownership ----------------------------------------------------------------------------------


def assign(items: Sequence[WorkItem], owner: User | None, actor: Actor) -> int:
    """Make `owner` the owner of the items (None: nobody); return how many changed.

    Raises:
        CollabError: the actor may not act here, or the owner is not an operator of the team.
    """
    if not items:
        return 0
    workspace = _one_workspace(items)
    _require_operator(actor, workspace)
    if owner is not None:
        _require_member(owner, workspace.team)
    now = timezone.now()
    with transaction.atomic():
        handlings = _handlings(items)
        changed = [h for h in handlings if h.owner_id != (owner.pk if owner else None)]
        ItemHandling.objects.filter(pk__in=[h.pk for h in changed]).update(
            owner=owner, owned_since=now if owner else None
        )
        by_id = {i.pk: i for i in items}
        touched = [by_id[h.work_item_id] for h in changed]
        if touched:
            if owner is None:
                _audit_items(actor, touched, "work_item.unassign", "Unassigned")
            else:
                verb = "Claimed" if owner == actor.user else f"Assigned to {owner}"
                _audit_items(
                    actor,
                    touched,
                    "work_item.assign",
                    verb,
                    owner=owner.get_username(),
                )
    return len(touched)


def claim(items: Sequence[WorkItem], actor: Actor) -> int:
    """Make the actor the owner of the items."""
    if actor.user is None:
        raise CollabError("Sign in to claim items.")
    return assign(items, actor.user, actor)


def drop_assignments_of(user: User, team: Team, actor: Actor) -> int:
    """A member left the team (or was removed): their items there lose their owner, and
    each is audited so the team sees which assignments ended and why."""
    handlings = ItemHandling.objects.filter(
        owner=user, work_item__workspace__team=team
    ).select_related("work_item__workspace__team")
    items = [h.work_item for h in handlings]
    if not items:
        return 0
    ItemHandling.objects.filter(pk__in=[h.pk for h in handlings]).update(
        owner=None, owned_since=None
    )
    for item in items:
        record_by(
            actor,
            team=team,
            action="work_item.unassign",
            obj=item,
            summary=(
                f"Unassigned work item {item.external_id}: its owner "
                f"{user.get_username()} left the team"
            ),
            data={
                "workspace_id": item.workspace_id,
                "work_item_id": item.external_id,
                "former_owner": user.get_username(),
            },
        )
    return len(items)


def assignable_members(team: Team) -> list[User]:
    """Return the team's operators and admins: the people an item can be assigned to."""
    return [
        m.user
        for m in Membership.objects.filter(team=team, role__gte=Role.OPERATOR)
        .select_related("user")
        .order_by("user__username")
    ]


# --- review status ------------------------------------------------------------------------------

REVIEW_LABELS = dict(ReviewStatus.choices)


def set_review(items: Sequence[WorkItem], status: str, actor: Actor) -> int:
    """Set the review status of the items by hand; return how many changed."""
    if status not in REVIEW_LABELS:
        raise CollabError(f"Unknown review status {status!r}.")
    if not items:
        return 0
    workspace = _one_workspace(items)
    _require_operator(actor, workspace)
    with transaction.atomic():
        handlings = [h for h in _handlings(items) if h.review_status != status]
        ItemHandling.objects.filter(pk__in=[h.pk for h in handlings]).update(
            review_status=status, review_updated_at=timezone.now()
        )
        by_id = {i.pk: i for i in items}
        touched = [by_id[h.work_item_id] for h in handlings]
        if touched:
            _audit_items(
                actor,
                touched,
                "work_item.review",
                f"Review status set to {REVIEW_LABELS[status].lower()}",
                review_status=status,
            )
    return len(touched)


# --- snooze -------------------------------------------------------------------------------------


def snooze_items(
    items: Sequence[WorkItem],
    actor: Actor,
    *,
    until: datetime | None = None,
    next_run: bool = False,
) -> int:
    """Hide the items from the failed inbox until `until` or the process's next run."""
    if not items:
        return 0
    workspace = _one_workspace(items)
    _require_operator(actor, workspace)
    until, after = _snooze_values(until, next_run)
    with transaction.atomic():
        handlings = _handlings(items)
        ItemHandling.objects.filter(pk__in=[h.pk for h in handlings]).update(
            snoozed_until=until, snoozed_for_run_after=after
        )
        _audit_items(
            actor,
            items,
            "work_item.snooze",
            _snooze_summary(until, after),
            **_snooze_data(until, after),
        )
    return len(items)


def unsnooze_items(items: Sequence[WorkItem], actor: Actor) -> int:
    if not items:
        return 0
    workspace = _one_workspace(items)
    _require_operator(actor, workspace)
    with transaction.atomic():
        n = (
            ItemHandling.objects.filter(work_item__in=[i.pk for i in items])
            .filter(
                Q(snoozed_until__isnull=False) | Q(snoozed_for_run_after__isnull=False)
            )
            .update(snoozed_until=None, snoozed_for_run_after=None)
        )
        if n:
            _audit_items(actor, items, "work_item.unsnooze", "Woke up")
    return n


def snooze_group(
    key: GroupKey,
    actor: Actor,
    *,
    until: datetime | None = None,
    next_run: bool = False,
) -> FailureGroupKey:
    """Hide every item of the group (future ones too) until `until` or the next run."""
    workspace = Workspace.objects.select_related("team").get(pk=key.workspace_id)
    _require_operator(actor, workspace)
    until, after = _snooze_values(until, next_run)
    row = group_row(key)
    row.snoozed_until, row.snoozed_for_run_after = until, after
    row.save(update_fields=["snoozed_until", "snoozed_for_run_after"])
    record_by(
        actor,
        team=workspace.team,
        action="failure_group.snooze",
        obj=row,
        summary=f"{_snooze_summary(until, after)} (failure group {_group_label(key)})",
        data={**key.fields(), **_snooze_data(until, after)},
    )
    return row


def unsnooze_group(key: GroupKey, actor: Actor) -> None:
    workspace = Workspace.objects.select_related("team").get(pk=key.workspace_id)
    _require_operator(actor, workspace)
    row = find_group_row(key)
    if row is None:
        return
    row.snoozed_until = row.snoozed_for_run_after = None
    row.save(update_fields=["snoozed_until", "snoozed_for_run_after"])
    record_by(
        actor,
        team=workspace.team,
        action="failure_group.unsnooze",
        obj=row,
        summary=f"Woke up failure group {_group_label(key)}",
        data=key.fields(),
    )


def _group_label(key: GroupKey) -> str:
    return (key.exception_code or key.signature or "(no message)")[:80]


def _snooze_values(
    until: datetime | None, next_run: bool
) -> tuple[datetime | None, datetime | None]:
    now = timezone.now()
    if next_run:
        return None, now
    if until is None or until <= now:
        raise CollabError("Snooze until a moment in the future, or until the next run.")
    return until, None


def _snooze_summary(until: datetime | None, after: datetime | None) -> str:
    if after is not None:
        return "Snoozed until the process's next run"
    assert until is not None
    return f"Snoozed until {timezone.localtime(until):%Y-%m-%d %H:%M}"


def _snooze_data(until: datetime | None, after: datetime | None) -> dict[str, object]:
    if after is not None:
        return {"until_next_run_after": after.isoformat()}
    return {"until": until.isoformat() if until else None}


def snoozed_condition(now: datetime | None = None) -> Q:
    """Return the WorkItem condition "snoozed now" (by itself or through its group).

    A snooze until the next run ends when the mirror holds a run of the item's process
    created after the snooze: it comes back by itself, with nothing to wake it up.
    """
    now = now or timezone.now()
    item_until = Q(handling__snoozed_until__gt=now)
    item_run = Q(handling__snoozed_for_run_after__isnull=False) & ~Exists(
        ProcessRun.objects.filter(
            workspace_id=OuterRef("workspace_id"),
            process_external_id=OuterRef("process_external_id"),
            created_at__gt=OuterRef("handling__snoozed_for_run_after"),
        )
    )
    group = FailureGroupKey.objects.filter(
        workspace_id=OuterRef("workspace_id"),
        process_external_id=OuterRef("process_external_id"),
        exception_type=OuterRef("exception_type"),
        exception_code=OuterRef("exception_code"),
        signature=OuterRef("message_signature"),
    )
    group_until = Exists(group.filter(snoozed_until__gt=now))
    group_run = Exists(
        group.filter(snoozed_for_run_after__isnull=False).exclude(
            Exists(
                ProcessRun.objects.filter(
                    workspace_id=OuterRef(OuterRef("workspace_id")),
                    process_external_id=OuterRef("process_external_id"),
                    created_at__gt=OuterRef("snoozed_for_run_after"),
                )
            )
        )
    )
    return item_until | item_run | Q(group_until) | Q(group_run)


def any_snoozes(workspace_ids: Iterable[int]) -> bool:
    """Whether any item or group of these workspaces carries a snooze (past ones too):
    when none does, the inbox needs no snooze condition at all. One query."""
    snoozed = Q(snoozed_until__isnull=False) | Q(snoozed_for_run_after__isnull=False)
    return (
        Workspace.objects.filter(pk__in=list(workspace_ids))
        .filter(
            Exists(
                ItemHandling.objects.filter(
                    snoozed, work_item__workspace_id=OuterRef("pk")
                )
            )
            | Exists(
                FailureGroupKey.objects.filter(snoozed, workspace_id=OuterRef("pk"))
            )
        )
        .exists()
    )


# --- comments and mentions ----------------------------------------------------------------------


@dataclass(frozen=True)
class CommentView:
    comment: Comment
    on_group: bool


def add_comment(
    actor: Actor,
    body: str,
    *,
    item: WorkItem | None = None,
    group: GroupKey | None = None,
) -> Comment:
    """Add a plain-text comment to an item or a group; notify the team members it @mentions.

    Raises:
        CollabError: empty or too long, or the actor may not act here.
    """
    text = body.strip()
    if not text:
        raise CollabError("Write something to comment.")
    if len(text) > MAX_COMMENT_CHARS:
        raise CollabError(f"A comment takes at most {MAX_COMMENT_CHARS:,} characters.")
    if (item is None) == (group is None):
        raise CollabError("A comment belongs to one item or one group.")
    workspace = (
        item.workspace
        if item is not None
        else Workspace.objects.select_related("team").get(pk=group.workspace_id)  # type: ignore[union-attr]
    )
    _require_operator(actor, workspace)
    with transaction.atomic():
        comment = Comment.objects.create(
            workspace=workspace,
            work_item=item,
            group=group_row(group) if group is not None else None,
            author=actor.user,
            author_label=actor.label,
            body=text,
        )
        where = (
            f"work item {item.external_id}"
            if item is not None
            else f"failure group {_group_label(group)}"  # type: ignore[arg-type]
        )
        record_by(
            actor,
            team=workspace.team,
            action="work_item.comment" if item is not None else "failure_group.comment",
            obj=item if item is not None else comment.group,
            summary=f"Commented on {where}",
            data={"workspace_id": workspace.pk, "comment_id": comment.pk},
        )
        url = _comment_url(item, group)
        transaction.on_commit(
            lambda: notify_mentions(comment, workspace.team, where, url)
        )
    return comment


def _comment_url(item: WorkItem | None, group: GroupKey | None) -> str:
    if item is not None:
        return reverse("workitems-item-detail", args=[item.pk])
    return reverse("workitems-triage")


def mentioned_members(text: str, team: Team) -> list[User]:
    """Return the team members named by an @username in the text."""
    names = {m.lower() for m in _MENTION.findall(text)}
    if not names:
        return []
    return [
        m.user
        for m in Membership.objects.filter(team=team).select_related("user")
        if m.user.get_username().lower() in names
    ]


def notify_mentions(comment: Comment, team: Team, where: str, url: str) -> int:
    """Give every member the comment mentions an in-app notice and, when they have an
    email address, an email; return how many were notified (never the author)."""
    notified = 0
    for user in mentioned_members(comment.body, team):
        if user.pk == comment.author_id:
            continue
        text = f"{comment.author_label} mentioned you on {where}"
        Notification.objects.create(user=user, team=team, text=text[:500], url=url)
        notified += 1
        if user.email:
            _email(user, text, comment, url)
    return notified


def _email(user: User, text: str, comment: Comment, url: str) -> None:
    link = (
        settings.WORKROOM_BASE_URL.rstrip("/") + url
        if settings.WORKROOM_BASE_URL
        else url
    )
    try:
        send_mail(
            subject=f"[Workroom] {text}"[:200],
            message=f"{comment.body}\n\n{link}",
            from_email=None,
            recipient_list=[user.email],
        )
    except OSError as err:  # a mail server down must not lose the comment
        logger.warning("could not email a mention notice: %s", type(err).__name__)


def comments_for_item(item: WorkItem) -> list[CommentView]:
    """Return the item's comments and its group's, oldest first."""
    group = find_group_row(GroupKey.of(item))
    rows = Comment.objects.filter(
        Q(work_item=item) | (Q(group=group) if group is not None else Q(pk__in=[]))
    ).order_by("created_at", "id")
    return [CommentView(c, c.group_id is not None) for c in rows]


def comments_for_group(key: GroupKey) -> list[Comment]:
    group = find_group_row(key)
    if group is None:
        return []
    return list(group.comments.order_by("created_at", "id"))


def unread_notifications(user: User) -> QuerySet[Notification]:
    return Notification.objects.filter(user=user, read_at__isnull=True)


def mark_notifications_read(user: User) -> int:
    return unread_notifications(user).update(read_at=timezone.now())
