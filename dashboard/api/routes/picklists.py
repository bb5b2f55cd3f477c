"""The catalogue's dynamic pick lists."""

from __future__ import annotations

from typing import Any, Literal

from django.http import HttpRequest
from ninja import Query, Router

from dashboard.api.routes.common import (
    ERRORS,
    MAX_ID,
    scope_of,
)
from dashboard.api.schemas import (
    Choice,
    PickListOut,
)
from dashboard.bulk import selectors as bulk_selectors
from dashboard.mirror.models import ProcessRun, StepRun, WorkItem
from dashboard.workitems.selectors import Scope
from robocorp_api.models import EXCEPTION_TYPES, WORK_ITEM_STATES

router = Router()


# --- pick lists (the catalogue's dynamic choices) ------------------------------------------------


PICK_LISTS = (
    "workspaces",
    "processes",
    "runs",
    "step_runs",
    "failed_items",
    "bulk_operations",
    "states",
    "exception_types",
    "codes",
)


@router.get(
    "/picklists/{name}", response={200: PickListOut, **ERRORS}, tags=["catalogue"]
)
def pick_list(
    request: HttpRequest,
    name: Literal[PICK_LISTS],  # type: ignore[valid-type]
    workspace: int | None = Query(None, ge=1, le=MAX_ID),
) -> dict[str, Any]:
    """The choices of a catalogue input field, for the token's workspaces (or one)."""
    scope = scope_of(request)
    ws_ids = [w for w in scope.workspaces if workspace in (None, w)]
    return {
        "name": name,
        "choices": [
            Choice(label=label, value=str(value))
            for label, value in _choices(scope, name, ws_ids, request)
        ],
    }


def _choices(
    scope: Scope, name: str, ws_ids: list[int], request: HttpRequest
) -> list[tuple[str, Any]]:
    if name == "workspaces":
        return [(w.name, w.pk) for pk, w in scope.workspaces.items() if pk in ws_ids]
    if name == "processes":
        return [(p.name, p.pk) for p in scope.processes() if p.workspace_id in ws_ids]
    if name == "states":
        return [(s.replace("_", " "), s) for s in WORK_ITEM_STATES]
    if name == "exception_types":
        return [(t.title(), t) for t in EXCEPTION_TYPES]
    if name == "runs":
        runs = ProcessRun.objects.filter(workspace_id__in=ws_ids, gone_at__isnull=True)
        return [
            (f"{r.external_id} ({r.state})", r.pk)
            for r in runs.order_by("-created_at", "-id")[:100]
        ]
    if name == "step_runs":
        steps = StepRun.objects.filter(workspace_id__in=ws_ids, gone_at__isnull=True)
        return [
            (f"{s.step_name or s.external_id} ({s.state})", s.pk)
            for s in steps.order_by("-id")[:100]
        ]
    if name == "failed_items":
        items = WorkItem.objects.filter(
            workspace_id__in=ws_ids, state="failed", gone_at__isnull=True
        )
        return [
            (f"{i.external_id} ({i.exception_code or i.exception_type})", i.pk)
            for i in items.order_by("-id")[:100]
        ]
    if name == "bulk_operations":
        ops = bulk_selectors.operations_for(request.user).order_by("-created_at", "-id")
        return [(f"{op} ({op.state})", op.pk) for op in ops[:100]]
    codes = (
        WorkItem.objects.filter(
            workspace_id__in=ws_ids, state="failed", gone_at__isnull=True
        )
        .exclude(exception_code="")
        .values_list("exception_code", flat=True)
        .distinct()
        .order_by("exception_code")[:500]
    )
    return [(c, c) for c in codes]
