"""What each rule condition sees right now: a `Finding` per condition key.

A rule watches its team's enabled workspaces, narrowed to its workspace and its explorer filter
(`workitems.filtering.read_filter`: a filter that stopped being valid — a process gone — is
refused with one message, never widened). The services turn findings into alerts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import Count, F, Q, QuerySet
from django.db.models.functions import Coalesce
from django.http import QueryDict
from django.urls import reverse

from dashboard.accounts.models import Role
from dashboard.alerts.models import Condition, Rule
from dashboard.lib.errors import WorkroomError
from dashboard.mirror.models import Process, ProcessRun, WorkItem, WorkspaceSyncState
from dashboard.mirror.selectors import no_worker_warnings
from dashboard.workitems.filtering import read_filter
from dashboard.workitems.selectors import Scope, filtered_items
from dashboard.workspaces.models import Workspace

RUN_ACTIVE_STATES = ("in_progress",)


class RuleError(WorkroomError):
    """The rule cannot be evaluated as written; `message` says why (shown on its page)."""


@dataclass(frozen=True)
class Finding:
    key: str
    workspace_id: int | None
    title: str
    detail: str
    link: str


def absolute(path: str, query: str | dict[str, Any] = "") -> str:
    """Return an absolute Workroom URL (WORKROOM_BASE_URL) of `path` with `query`."""
    text = urlencode(query, doseq=True) if isinstance(query, dict) else query
    return settings.WORKROOM_BASE_URL + path + (f"?{text}" if text else "")


def rule_workspaces(
    rule: Rule, only: Iterable[int] | None = None
) -> dict[int, Workspace]:
    """The enabled workspaces of the rule's team it watches (narrowed to `only` when given)."""
    rows = Workspace.objects.filter(team_id=rule.team_id, enabled=True).select_related(
        "team"
    )
    if rule.workspace_id:
        rows = rows.filter(pk=rule.workspace_id)
    if only is not None:
        rows = rows.filter(pk__in=list(only))
    return {w.pk: w for w in rows}


def find(
    rule: Rule, workspaces: dict[int, Workspace], now: datetime
) -> dict[str, Finding]:
    """Return the rule's current findings over `workspaces`, by key.

    Raises:
        RuleError: the rule's filter is no longer valid.
    """
    if not workspaces or rule.condition == Condition.EVENT:
        return {}
    # The filter is read over all the rule's workspaces (it may name one that is not
    # being evaluated now), the items over those being evaluated.
    filters = scope_filters(rule, team_scope(rule, rule_workspaces(rule)))
    scope = team_scope(rule, workspaces)
    finder = _FINDERS[Condition(rule.condition)]
    return {f.key: f for f in finder(rule, scope, filters, now)}


def scope_filters(rule: Rule, scope: Scope) -> dict[str, Any]:
    """Return the rule's cleaned explorer filter over `scope`.

    Raises:
        RuleError: the filter is not valid (the explorer's own message).
    """
    item_filter = read_filter(scope, QueryDict(rule.scope_query))
    if item_filter.error:
        raise RuleError(item_filter.error)
    return item_filter.filters


def team_scope(rule: Rule, workspaces: dict[int, Workspace]) -> Scope:
    return Scope(workspaces, {rule.team_id: Role.ADMIN})


def _minutes(n: int) -> str:
    return f"{n} minute{'s' if n != 1 else ''}"


def _process_names(ids: Iterable[int]) -> dict[int, str]:
    return dict(Process.objects.filter(pk__in=set(ids)).values_list("pk", "name"))


def group_key(
    ws: int, process: int | None, exc_type: str, code: str, signature: str
) -> str:
    digest = hashlib.sha256(f"{exc_type}\0{code}\0{signature}".encode()).hexdigest()[
        :32
    ]
    return f"group:{ws}:{process or 0}:{digest}"


def _new_groups(
    rule: Rule, scope: Scope, filters: dict[str, Any], now: datetime
) -> list[Finding]:
    rows = list(
        filtered_items(scope, filters, with_state=False)
        .filter(state="failed")
        .values_list(
            "workspace_id",
            "process_id",
            "exception_type",
            "exception_code",
            "message_signature",
        )
        .annotate(n=Count("id"))
        .order_by()
    )
    found = []
    names = _process_names(r[1] for r in rows)
    triage = reverse("workitems-triage")
    for ws, process, exc_type, code, signature, n in rows:
        label = " ".join(x for x in (exc_type or "unspecified", code) if x)
        group = {
            "workspace": ws,
            "process": process,
            "state": "failed",
            "exception_type": exc_type,
            "exception_code": code,
            "signature": signature,
        }
        found.append(
            Finding(
                key=group_key(ws, process, exc_type, code, signature),
                workspace_id=ws,
                title=f"New failure group in {names.get(process, 'a process')}: {label}",
                detail=(
                    f"{n} failed item{'s' if n != 1 else ''} in {scope.workspaces[ws].name}"
                    f"{f': {signature}' if signature else ''}. Triage: {absolute(triage)}"
                ),
                link=absolute(reverse("workitems-item-list"), group),
            )
        )
    return found


def _failure_spike(
    rule: Rule, scope: Scope, filters: dict[str, Any], now: datetime
) -> list[Finding]:
    since = now - timedelta(minutes=rule.window_minutes)
    failed = filtered_items(scope, filters, with_state=False).filter(
        state="failed", state_updated_at__gte=since
    )
    rows, names = _per_process(failed, rule.threshold)
    return [
        Finding(
            key=f"spike:{ws}:{process}",
            workspace_id=ws,
            title=(
                f"{n} failures of {names.get(process, 'a process')} in the last "
                f"{_minutes(rule.window_minutes)} (more than {rule.threshold})"
            ),
            detail=f"Workspace {scope.workspaces[ws].name}.",
            link=_explorer_link(ws, process, "failed", "-updated"),
        )
        for ws, process, n in rows
    ]


def _per_process(
    items: QuerySet[WorkItem], threshold: int
) -> tuple[list[tuple[int, int, int]], dict[int, str]]:
    """(workspace, process, count) of the processes with more than `threshold` of `items`,
    and those processes' names."""
    rows = list(
        items.values_list("workspace_id", "process_id")
        .annotate(n=Count("id"))
        .filter(n__gt=threshold)
        .order_by()
    )
    return rows, _process_names(r[1] for r in rows)


def _explorer_link(workspace: int, process: int, state: str, sort: str) -> str:
    return absolute(
        reverse("workitems-item-list"),
        {"workspace": workspace, "process": process, "state": state, "sort": sort},
    )


def _runs_stuck(
    rule: Rule, scope: Scope, filters: dict[str, Any], now: datetime
) -> list[Finding]:
    since = now - timedelta(minutes=rule.window_minutes)
    runs = ProcessRun.objects.filter(
        workspace_id__in=list(scope.workspaces),
        gone_at__isnull=True,
        state__in=RUN_ACTIVE_STATES,
    ).filter(Q(started_at__lt=since) | Q(started_at__isnull=True, created_at__lt=since))
    if filters.get("workspace"):
        runs = runs.filter(workspace_id=filters["workspace"])
    if filters.get("process"):
        runs = runs.filter(process_id=filters["process"])
    runs = runs.select_related("process")
    return [
        Finding(
            key=f"run:{run.workspace_id}:{run.external_id}",
            workspace_id=run.workspace_id,
            title=(
                f"Run of {run.process.name} in progress for more than "
                f"{_minutes(rule.window_minutes)}"
            ),
            detail=(
                f"Run {run.external_id} in {scope.workspaces[run.workspace_id].name} started "
                f"{(run.started_at or run.created_at):%Y-%m-%d %H:%M} UTC."
            ),
            link=absolute(
                reverse(
                    "processes-run-detail", args=[run.workspace_id, run.external_id]
                )
            ),
        )
        for run in runs
    ]


def _items_pending(
    rule: Rule, scope: Scope, filters: dict[str, Any], now: datetime
) -> list[Finding]:
    since = now - timedelta(minutes=rule.window_minutes)
    waiting = (
        filtered_items(scope, filters, with_state=False)
        .filter(state="pending")
        .alias(since=Coalesce(F("state_updated_at"), F("created_at")))
        .filter(since__lt=since)
    )
    rows, names = _per_process(waiting, rule.threshold)
    return [
        Finding(
            key=f"pending:{ws}:{process}",
            workspace_id=ws,
            title=(
                f"{n} item{'s' if n != 1 else ''} of {names.get(process, 'a process')} pending "
                f"for more than {_minutes(rule.window_minutes)}"
            ),
            detail=f"Workspace {scope.workspaces[ws].name}.",
            link=_explorer_link(ws, process, "pending", "updated"),
        )
        for ws, process, n in rows
    ]


def _key_rejected(
    rule: Rule, scope: Scope, filters: dict[str, Any], now: datetime
) -> list[Finding]:
    return [
        Finding(
            key=f"key:{ws.pk}",
            workspace_id=ws.pk,
            title=f"Workspace {ws.name}: Control Room rejects its API key",
            detail=ws.last_error or "The workspace needs attention: check its API key.",
            link=absolute(reverse("workspaces-detail", args=[ws.pk])),
        )
        for ws in _in_filter(scope, filters)
        if ws.needs_attention
    ]


def _sync_failing(
    rule: Rule, scope: Scope, filters: dict[str, Any], now: datetime
) -> list[Finding]:
    since = now - timedelta(minutes=rule.window_minutes)
    workspaces = {w.pk: w for w in _in_filter(scope, filters)}
    failing = WorkspaceSyncState.objects.filter(
        workspace_id__in=list(workspaces), consecutive_failures__gt=0
    ).filter(
        Q(last_success_at__lt=since)
        | Q(last_success_at__isnull=True, workspace__created_at__lt=since)
    )
    found = []
    for state in failing.select_related("last_sync_run"):
        ws = workspaces[state.workspace_id]
        error = state.last_sync_run.error if state.last_sync_run else ""
        found.append(
            Finding(
                key=f"sync:{ws.pk}",
                workspace_id=ws.pk,
                title=(
                    f"Workspace {ws.name}: sync failing for more than "
                    f"{_minutes(rule.window_minutes)}"
                ),
                detail=(
                    f"{state.consecutive_failures} failed syncs in a row"
                    + (f"; last error: {error[:300]}" if error else ".")
                ),
                link=absolute(reverse("mirror-workspace-overview", args=[ws.pk])),
            )
        )
    return found


def _no_worker(
    rule: Rule, scope: Scope, filters: dict[str, Any], now: datetime
) -> list[Finding]:
    """Items pending in a workspace none of whose workers is online (mirror's warning)."""
    return [
        Finding(
            key=f"no-worker:{w.workspace.pk}",
            workspace_id=w.workspace.pk,
            title=f"Workspace {w.workspace.name}: items wait, no worker is online",
            detail=(
                f"{w.pending} item{'s' if w.pending != 1 else ''} pending; "
                f"offline: {', '.join(w.offline_names[:5])}"
            ),
            link=absolute(reverse("fleet-workspace-workers", args=[w.workspace.pk])),
        )
        for w in no_worker_warnings(_in_filter(scope, filters))
    ]


def _in_filter(scope: Scope, filters: dict[str, Any]) -> list[Workspace]:
    return [
        ws
        for ws in scope.workspaces.values()
        if not filters.get("workspace") or ws.pk == filters["workspace"]
    ]


_FINDERS = {
    Condition.NEW_GROUP: _new_groups,
    Condition.FAILURE_SPIKE: _failure_spike,
    Condition.RUN_STUCK: _runs_stuck,
    Condition.ITEMS_PENDING: _items_pending,
    Condition.KEY_REJECTED: _key_rejected,
    Condition.SYNC_FAILING: _sync_failing,
    Condition.NO_WORKER: _no_worker,
}
