"""Reads of the work-item pages: the explorer's scoped, filtered, keyset-paged item list,
counts per state, failure triage groups, an item's history, and CSV rows.

Every read starts from `visible_workspaces(user)`: a user sees the items of the
workspaces of the teams they belong to, and nothing else.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from functools import cached_property
from typing import Any, NamedTuple
from urllib.parse import quote_plus, urlencode

from django.contrib.auth.models import AnonymousUser
from django.db.models import (
    Count,
    F,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    TextField,
)
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from dashboard.accounts.models import Membership, Role, User
from dashboard.audit.models import AuditEvent
from dashboard.mirror.models import (
    Process,
    WorkItem,
    WorkItemStateChange,
    WorkspaceSyncState,
)
from dashboard.workitems.collab import GroupKey, any_snoozes, snoozed_condition
from dashboard.workitems.models import (
    Comment,
    FailureGroupKey,
    FailureGroupRollup,
    ReviewStatus,
)
from dashboard.workspaces.models import Workspace
from robocorp_api.models import WORK_ITEM_STATES

TRANSIENT_TYPES = ("application", "orchestrator", "unspecified", "")
# Orchestrator codes of items failed because someone stopped their run: on purpose, not a
# transient fault (robocorp_api README, "stop a run").
STOPPED_CODES = ("PROCESS_RUN_STOPPED", "TERMINATED")


def failure_advice(exception_type: str, exception_code: str) -> str:
    """Return the one-line advice shown next to a failure's exception."""
    if exception_code in STOPPED_CODES:
        return "its run was stopped on purpose — retry if still wanted"
    if exception_type in TRANSIENT_TYPES:
        return "usually transient — retry"
    return "fix data / mark done"


TRIAGE_LIMIT = 200

# Fields of a list row: everything the row template shows, never the payload.
ROW_FIELDS = (
    "id",
    "workspace_id",
    "process_id",
    "external_id",
    "process_external_id",
    "process_run_external_id",
    "step_run_external_id",
    "state",
    "state_updated_at",
    "created_at",
    "exception_type",
    "exception_code",
    "exception_message",
    "message_signature",
    "gone_at",
    "last_seen_at",
)


# --- scope --------------------------------------------------------------------------------


def visible_workspaces(user: User | AnonymousUser) -> QuerySet[Workspace]:
    """Return the workspaces of every team the user is a member of."""
    if not user.is_authenticated:
        return Workspace.objects.none()
    return (
        Workspace.objects.filter(team__memberships__user=user)
        .select_related("team")
        .order_by("team__name", "name", "id")
    )


def roles_by_team(user: User | AnonymousUser) -> dict[int, int]:
    """Return {team id: role} of the user's memberships."""
    if not user.is_authenticated:
        return {}
    return dict(Membership.objects.filter(user=user).values_list("team_id", "role"))


@dataclass(frozen=True)
class Scope:
    """What one user may see and do, loaded once per request."""

    workspaces: dict[int, Workspace]
    roles: dict[int, int]
    user_id: int | None = None  # whose "my items" these are

    @classmethod
    def for_user(cls, user: User | AnonymousUser) -> Scope:
        return cls(
            {w.pk: w for w in visible_workspaces(user)},
            roles_by_team(user),
            user.pk if user.is_authenticated else None,
        )

    @cached_property
    def has_snoozes(self) -> bool:
        """Whether anything in scope is snoozed (read once per request)."""
        return any_snoozes(self.workspaces)

    def can_act(self, workspace: Workspace) -> bool:
        return self.roles.get(workspace.team_id, 0) >= Role.OPERATOR

    def why_not(self, workspace: Workspace, feature: str) -> str:
        """Return why this actor may not use the feature on the workspace ("" = may):
        their role, then the workspace's own answer (Workspace.why_not)."""
        if not self.can_act(workspace):
            return f"You are only a viewer in {workspace.team.name}."
        why = workspace.why_not(feature)
        return f"{workspace.name}: {why}" if why else ""

    def is_admin(self, workspace: Workspace) -> bool:
        return self.roles.get(workspace.team_id, 0) >= Role.ADMIN

    @cached_property
    def all_processes(self) -> list[Process]:
        """Every process of the workspaces in scope, gone ones too, by name (read once per
        request: the filter form, the rows' process names and the state counts share it)."""
        return list(
            Process.objects.filter(workspace_id__in=list(self.workspaces))
            .only("id", "name", "workspace_id", "external_id", "item_counts", "gone_at")
            .order_by("name", "id")
        )

    def processes(self) -> list[Process]:
        """The processes in scope that still exist in Control Room, by name."""
        return [p for p in self.all_processes if p.gone_at is None]


# --- filtering ----------------------------------------------------------------------------


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())


def _day_end(day: date) -> datetime:
    return datetime.combine(day, time.max, tzinfo=timezone.get_current_timezone())


def filtered_items(
    scope: Scope, filters: dict[str, Any], *, with_state: bool = True
) -> QuerySet[WorkItem]:
    """Return the live items in scope matching the cleaned filter (unordered)."""
    ws_ids = list(scope.workspaces)
    if filters.get("workspace"):
        ws_ids = [w for w in ws_ids if w == filters["workspace"]]
    items = WorkItem.objects.filter(workspace_id__in=ws_ids, gone_at__isnull=True)
    if filters.get("process"):
        items = items.filter(process_id=filters["process"])
    if filters.get("run"):
        items = items.filter(process_run_external_id=filters["run"].strip())
    if with_state and filters.get("state"):
        items = items.filter(state__in=filters["state"])
    if filters.get("exception_type"):
        items = items.filter(exception_type=filters["exception_type"])
    if filters.get("exception_code"):
        items = items.filter(exception_code=filters["exception_code"].strip())
    if filters.get("signature"):
        items = items.filter(message_signature=filters["signature"])
    if filters.get("message"):
        items = items.filter(exception_message__icontains=filters["message"].strip())
    if filters.get("payload"):
        items = items.alias(payload_text=Cast("payload", TextField())).filter(
            payload_text__icontains=filters["payload"].strip()
        )
    items = _handling_filters(scope, items, filters)
    return _date_filters(items, filters)


def _handling_filters(
    scope: Scope, items: QuerySet[WorkItem], filters: dict[str, Any]
) -> QuerySet[WorkItem]:
    """Owner, review status and snooze. Snoozed items are hidden unless asked for; the
    snooze condition is left out when no snooze exists in these workspaces (the usual case)."""
    owner = filters.get("owner")
    if owner == "me":
        items = items.filter(handling__owner_id=scope.user_id or 0)
    elif owner == "none":
        items = items.filter(Q(handling__isnull=True) | Q(handling__owner__isnull=True))
    elif owner == "any":
        items = items.filter(handling__owner__isnull=False)
    review = filters.get("review")
    if review == ReviewStatus.NONE:
        items = items.filter(
            Q(handling__isnull=True) | Q(handling__review_status=ReviewStatus.NONE)
        )
    elif review:
        items = items.filter(handling__review_status=review)
    snoozed = filters.get("snoozed") or ""
    if snoozed != "include" and scope.has_snoozes:
        condition = snoozed_condition()
        items = (
            items.filter(condition) if snoozed == "only" else items.exclude(condition)
        )
    elif snoozed == "only":
        items = items.none()
    return items


def _date_filters(
    items: QuerySet[WorkItem], filters: dict[str, Any]
) -> QuerySet[WorkItem]:
    if filters.get("created_from"):
        items = items.filter(created_at__gte=_day_start(filters["created_from"]))
    if filters.get("created_to"):
        items = items.filter(created_at__lte=_day_end(filters["created_to"]))
    if filters.get("updated_from"):
        items = items.filter(state_updated_at__gte=_day_start(filters["updated_from"]))
    if filters.get("updated_to"):
        items = items.filter(state_updated_at__lte=_day_end(filters["updated_to"]))
    return items


# --- keyset pagination --------------------------------------------------------------------

_SORT_FIELDS = {"created": ("created_at", False), "updated": ("state_updated_at", True)}


def _sort(sort: str) -> tuple[str, bool, bool]:
    """Return (field, descending, nullable) for a sort key such as "-created"."""
    desc = sort.startswith("-")
    name, nullable = _SORT_FIELDS.get(sort.lstrip("-"), _SORT_FIELDS["created"])
    return name, desc, nullable


def encode_cursor(value: datetime | None, pk: int) -> str:
    raw = json.dumps([value.isoformat() if value else None, pk]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str) -> tuple[datetime | None, int] | None:
    """Return (value, pk) of a cursor, or None for a malformed one (treated as page 1)."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        value, pk = json.loads(raw)
        moment = parse_datetime(value) if value is not None else None
        if not isinstance(pk, int) or (value is not None and moment is None):
            return None
        return moment, pk
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        return None


def _order(name: str, desc: bool, nullable: bool = False) -> list[Any]:
    """Return the ORDER BY of a sort; it must match an index exactly (NULLS placement too),
    or PostgreSQL sorts the whole table for every page."""
    if not nullable:
        return (
            [F(name).desc(), F("id").desc()] if desc else [F(name).asc(), F("id").asc()]
        )
    if desc:
        return [F(name).desc(nulls_last=True), F("id").desc()]
    return [F(name).asc(nulls_first=True), F("id").asc()]


def _beyond(
    name: str, desc: bool, nullable: bool, value: datetime | None, pk: int
) -> Q:
    """Return the rows strictly after (value, pk) in the (desc, nulls-last) order.

    Written as `field <= v AND (field < v OR id < pk)` so the index range starts at the
    cursor instead of filtering from the top (deep pages stay as fast as the first).
    """
    lt, lte, id_lt = ("lt", "lte", "lt") if desc else ("gt", "gte", "gt")
    if value is None:
        # Null rows come last when descending, first when ascending.
        nulls_after = Q(**{f"{name}__isnull": True, f"id__{id_lt}": pk})
        return nulls_after if desc else nulls_after | Q(**{f"{name}__isnull": False})
    q = Q(**{f"{name}__{lte}": value}) & (
        Q(**{f"{name}__{lt}": value}) | Q(**{f"id__{id_lt}": pk})
    )
    if nullable and desc:
        q |= Q(**{f"{name}__isnull": True})
    return q


@dataclass
class Page:
    rows: list[WorkItem]
    next_cursor: str | None
    prev_cursor: str | None
    page_size: int
    # Read without a cursor and nothing beyond it: its rows are every item of its query.
    holds_every_match: bool = False


def keyset_page(
    items: QuerySet[WorkItem],
    *,
    sort: str,
    page_size: int,
    after: str = "",
    before: str = "",
) -> Page:
    """Return one page of `items` in `sort` order after / before a cursor (2 queries max)."""
    name, desc, nullable = _sort(sort or "-created")
    items = items.only(*ROW_FIELDS)
    cursor = (
        decode_cursor(before) if before else decode_cursor(after) if after else None
    )
    backwards = bool(before) and cursor is not None
    if cursor is not None:
        items = items.filter(_beyond(name, desc != backwards, nullable, *cursor))
    rows = list(
        items.order_by(*_order(name, desc != backwards, nullable))[: page_size + 1]
    )
    more = len(rows) > page_size
    rows = rows[:page_size]
    if backwards:
        rows.reverse()
    has_next = more if not backwards else True
    has_prev = (cursor is not None) if not backwards else more

    def key(row: WorkItem) -> str:
        return encode_cursor(getattr(row, name), row.pk)

    return Page(
        rows=rows,
        next_cursor=key(rows[-1]) if rows and has_next else None,
        prev_cursor=key(rows[0]) if rows and has_prev else None,
        page_size=page_size,
        holds_every_match=cursor is None and not more,
    )


# --- counts -------------------------------------------------------------------------------

_COUNT_FILTERS = ("workspace", "process")


def state_counts(
    scope: Scope, filters: dict[str, Any], page: Page | None = None
) -> dict[str, int]:
    """Return {state: n} for the current filter, ignoring its state part.

    Filters on workspace / process only are answered from `Process.item_counts`, which the
    sync keeps current (an exact COUNT over a million rows takes ~80 ms); when `page` (the
    first page of the same filter) holds every matching item, its rows are tallied; any
    other filter, or snoozed items to leave out, counts the matching rows.
    """
    other = [
        k
        for k, v in filters.items()
        if v
        and k not in (*_COUNT_FILTERS, "state", "sort", "page_size", "after", "before")
    ]
    hides_snoozed = filters.get("snoozed") != "include" and scope.has_snoozes
    if not other and not hides_snoozed:
        counts: dict[str, int] = dict.fromkeys(WORK_ITEM_STATES, 0)
        for process in scope.all_processes:
            if (
                filters.get("workspace")
                and process.workspace_id != filters["workspace"]
            ):
                continue
            if filters.get("process") and process.pk != filters["process"]:
                continue
            for state, n in (process.item_counts or {}).items():
                counts[state] = counts.get(state, 0) + int(n)
        return counts
    if page is not None and page.holds_every_match and not filters.get("state"):
        # A narrow search (an invoice number in the payload, a message) fits on one page:
        # its rows are the whole answer, and counting them again would repeat its scan.
        tally = dict.fromkeys(WORK_ITEM_STATES, 0)
        for row in page.rows:
            tally[row.state] = tally.get(row.state, 0) + 1
        return tally
    rows = (
        filtered_items(scope, filters, with_state=False)
        .values_list("state")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts = dict.fromkeys(WORK_ITEM_STATES, 0)
    counts.update(dict(rows))
    return counts


def item_data_as_of(
    item: WorkItem, workspace_as_of: datetime | None
) -> datetime | None:
    """When the mirror last knew the item to be as shown: its own last observation (a sync
    listing it, or a re-read after an action) or the workspace's last successful sync, which
    vouches for every item (active items are watched until they settle), whichever is later."""
    moments = [m for m in (item.last_seen_at, workspace_as_of) if m is not None]
    return max(moments) if moments else None


def data_as_of(workspace_ids: Sequence[int]) -> dict[int, datetime | None]:
    """Return {workspace id: time of its last successful sync}."""
    return dict(
        WorkspaceSyncState.objects.filter(pk__in=list(workspace_ids)).values_list(
            "workspace_id", "last_success_at"
        )
    )


# --- triage -------------------------------------------------------------------------------


@dataclass
class FailureGroup:
    workspace: Workspace
    process: Process | None
    exception_type: str
    exception_code: str
    signature: str
    count: int
    first_seen: datetime | None
    last_seen: datetime | None
    sample_message: str = ""
    sample_id: int | None = None
    reviews: dict[str, int] = field(default_factory=dict)  # review status → items
    owners: dict[str, int] = field(default_factory=dict)  # owner's username → items
    comments: int = 0
    latest_comment: str = ""  # the group's newest comment, with its author
    members: list[Any] = field(default_factory=list)  # whom it can be assigned to

    @property
    def key(self) -> GroupKey:
        return GroupKey(
            self.workspace.pk,
            self.process.external_id if self.process else "",
            self.exception_type,
            self.exception_code,
            self.signature,
        )

    @property
    def key_query(self) -> str:
        """The query string that names this group to the group actions."""
        return urlencode(
            {
                "workspace": self.workspace.pk,
                "process_external_id": self.key.process_external_id,
                "exception_type": self.exception_type,
                "exception_code": self.exception_code,
                "signature": self.signature,
            }
        )

    @property
    def transient(self) -> bool:
        return self.exception_type in TRANSIENT_TYPES

    @property
    def kind_label(self) -> str:
        return (self.exception_type or "unspecified").title()

    @property
    def explorer_query(self) -> str:
        """Return the explorer query string that shows exactly this group's items (what
        urlencode writes for them, put together directly: a triage page writes 200)."""
        process = f"process={self.process.pk}&" if self.process is not None else ""
        return (
            f"workspace={self.workspace.pk}&{process}state=failed"
            f"&exception_type={quote_plus(self.exception_type)}"
            f"&exception_code={quote_plus(self.exception_code)}"
            f"&signature={quote_plus(self.signature)}"
        )

    @property
    def advice(self) -> str:
        return failure_advice(self.exception_type, self.exception_code)


class _GroupRow(NamedTuple):
    """One row of the triage GROUP BY, in the order of its values_list."""

    workspace_id: int
    process_id: int | None
    exception_type: str
    exception_code: str
    signature: str
    n: int
    first_seen: datetime | None
    last_seen: datetime | None
    sample_id: int


@dataclass
class Triage:
    groups: list[FailureGroup]
    total_failed: int
    truncated: bool
    by_kind: dict[str, int] = field(default_factory=dict)


def failure_groups(
    scope: Scope,
    *,
    workspace: int | None = None,
    process: int | None = None,
    exception_type: str = "",
    snoozed: str = "",
) -> Triage:
    """Return failed live items grouped by (workspace, process, type, code, signature).

    One GROUP BY served by the partial index `op_item_failed_groups` (state = failed), plus
    one lookup of the sample message of the groups shown. Snoozed items are left out unless
    `snoozed` is "include" or "only" (the explorer's filter values); each group shown gets
    its counts per review status and per owner.
    """
    ws_ids = [w for w in scope.workspaces if not workspace or w == workspace]
    failed = WorkItem.objects.filter(
        workspace_id__in=ws_ids, state="failed", gone_at__isnull=True
    )
    if process:
        failed = failed.filter(process_id=process)
    if exception_type:
        failed = failed.filter(exception_type=exception_type)
    failed = _handling_filters(scope, failed, {"snoozed": snoozed})
    # Snoozed items to leave out (or to show alone) are not in the rollup: group them.
    from_rollup = snoozed == "include" or (snoozed != "only" and not scope.has_snoozes)
    if from_rollup:
        rows, samples = _rollup_rows(ws_ids, process, exception_type)
    else:
        rows = _grouped_rows(failed)
        samples = dict(
            WorkItem.objects.filter(
                pk__in=[r.sample_id for r in rows[:TRIAGE_LIMIT]]
            ).values_list("id", "exception_message")
        )
    shown = rows[:TRIAGE_LIMIT]
    processes: dict[int | None, Process] = {
        p.pk: p
        for p in Process.objects.filter(pk__in={r.process_id for r in shown}).only(
            "id", "name", "external_id", "workspace_id"
        )
    }
    by_kind: dict[str, int] = {}
    for r in rows:
        kind = r.exception_type or "unspecified"
        by_kind[kind] = by_kind.get(kind, 0) + r.n
    groups = [
        FailureGroup(
            workspace=scope.workspaces[r.workspace_id],
            process=processes.get(r.process_id),
            exception_type=r.exception_type,
            exception_code=r.exception_code,
            signature=r.signature,
            count=r.n,
            first_seen=r.first_seen,
            last_seen=r.last_seen,
            sample_message=samples.get(r.sample_id, ""),
            sample_id=r.sample_id,
        )
        for r in shown
    ]
    _add_handling_counts(groups, failed)
    return Triage(groups, sum(r.n for r in rows), len(rows) > TRIAGE_LIMIT, by_kind)


_GROUP_ORDER = ("workspace_id", "process_id", "exception_code")


def _grouped_rows(failed: QuerySet[WorkItem]) -> list[_GroupRow]:
    """The triage GROUP BY over the items themselves (what the rollup keeps)."""
    return [
        _GroupRow(*r)
        for r in failed.values_list(
            "workspace_id",
            "process_id",
            "exception_type",
            "exception_code",
            "message_signature",
        )
        .annotate(
            n=Count("id"),
            first=Min("state_updated_at"),
            last=Max("state_updated_at"),
            sample=Max("id"),
        )
        .order_by("-n", *_GROUP_ORDER, "message_signature")
    ]


def _rollup_rows(
    ws_ids: list[int], process: int | None, exception_type: str
) -> tuple[list[_GroupRow], dict[int, str]]:
    """The groups from the rollup kept at write time (workitems.rollup), in the GROUP BY's
    order, and their sample messages."""
    stored = FailureGroupRollup.objects.filter(workspace_id__in=ws_ids)
    if process:
        stored = stored.filter(process_id=process)
    if exception_type:
        stored = stored.filter(exception_type=exception_type)
    rows: list[_GroupRow] = []
    samples: dict[int, str] = {}
    for values in stored.values_list(
        "workspace_id",
        "process_id",
        "exception_type",
        "exception_code",
        "signature",
        "count",
        "first_seen",
        "last_seen",
        "sample_id",
        "sample_message",
    ).order_by("-count", *_GROUP_ORDER, "signature"):
        row = _GroupRow(*values[:-1])
        rows.append(row)
        samples[row.sample_id] = str(values[-1])
    return rows, samples


def _add_handling_counts(
    groups: list[FailureGroup], failed: QuerySet[WorkItem]
) -> None:
    """Fill in each group's counts per review status and per owner, and its comments."""
    if not groups:
        return
    by_key = {
        (
            g.workspace.pk,
            g.process.pk if g.process else None,
            g.exception_type,
            g.exception_code,
            g.signature,
        ): g
        for g in groups
    }
    group_fields = (
        "workspace_id",
        "process_id",
        "exception_type",
        "exception_code",
        "message_signature",
    )
    rows = (
        failed.filter(handling__isnull=False)
        .values_list(
            *group_fields, "handling__review_status", "handling__owner__username"
        )
        .annotate(n=Count("id"))
        .order_by()
    )
    for *key, review, owner, n in rows:
        group = by_key.get(tuple(key))
        if group is None:
            continue
        if review and review != ReviewStatus.NONE:
            group.reviews[review] = group.reviews.get(review, 0) + n
        if owner:
            group.owners[owner] = group.owners.get(owner, 0) + n
    keyed = {g.key: g for g in groups}
    newest = Comment.objects.filter(group=OuterRef("pk")).order_by("-created_at", "-id")
    for row in FailureGroupKey.objects.filter(
        workspace_id__in={g.workspace.pk for g in groups}
    ).annotate(
        n=Count("comments"),
        latest_body=Subquery(newest.values("body")[:1]),
        latest_author=Subquery(newest.values("author_label")[:1]),
    ):
        group = keyed.get(
            GroupKey(
                row.workspace_id,
                row.process_external_id,
                row.exception_type,
                row.exception_code,
                row.signature,
            )
        )
        if group is not None:
            group.comments = row.n
            if row.latest_body:
                group.latest_comment = f"{row.latest_author}: {row.latest_body}"


# --- one item -----------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    kind: str  # "sync" | "audit"
    text: str
    actor: str = ""


def item_history(item: WorkItem, *, limit: int = 100) -> list[HistoryEntry]:
    """Return the item's observed state changes and audit events, newest first."""
    entries = [
        HistoryEntry(
            c.observed_at,
            "sync",
            f"{c.old_state} → {c.new_state}"
            + (f" ({c.exception_code})" if c.exception_code else ""),
        )
        for c in WorkItemStateChange.objects.filter(work_item=item).order_by(
            "-observed_at", "-id"
        )[:limit]
    ]
    events = AuditEvent.objects.filter(
        team_id=item.workspace.team_id,
        object_type=WorkItem._meta.label_lower,
        object_id=str(item.pk),
    ).order_by("-created_at", "-id")[:limit]
    entries += [
        HistoryEntry(e.created_at, "audit", e.summary, e.actor_label) for e in events
    ]
    entries.sort(key=lambda e: e.at, reverse=True)
    return entries[:limit]


# --- CSV ----------------------------------------------------------------------------------


def ordered(items: QuerySet[WorkItem], sort: str) -> QuerySet[WorkItem]:
    """Return `items` in a sort order of the explorer ("-created", "updated", …)."""
    name, desc, nullable = _sort(sort or "-created")
    return items.order_by(*_order(name, desc, nullable))
