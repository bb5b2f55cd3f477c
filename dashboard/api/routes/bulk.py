"""Bulk operations: preview, confirm, progress, results, cancel."""

from __future__ import annotations

from typing import Any, Literal

from django.http import Http404, HttpRequest
from ninja import Query, Router
from ninja.responses import Status

from dashboard.api.routes.common import (
    ERRORS,
    MAX_ID,
    ApiRefusal,
    Id,
    actor_of,
    next_link,
    require_operator,
    token_of,
)
from dashboard.api.schemas import (
    BulkIn,
    BulkItemOut,
    BulkItemPage,
    BulkOut,
    ConfirmIn,
    CountOut,
)
from dashboard.bulk import drafts, execution
from dashboard.bulk import selectors as bulk_selectors
from dashboard.bulk.models import BulkItem, BulkOperation

router = Router()


# --- bulk operations --------------------------------------------------------------------------


def _bulk_out(op: BulkOperation) -> dict[str, Any]:
    crumbs = drafts.breakdown(op) if op.state == BulkOperation.State.DRAFT else None
    note = bulk_selectors.status_note(op)
    return {
        "id": op.pk,
        "action": op.action,
        "state": op.state,
        "selection": op.selection,
        "filter": op.filter_query,
        "created_by": op.created_by_label,
        "reason": op.reason,
        "total": op.total,
        "ineligible": op.ineligible,
        "queued": op.queued_count,
        "done": op.done_count,
        "skipped": op.skipped_count,
        "failed": op.failed_count,
        "cancelled": op.cancelled_count,
        "percent": op.percent,
        "created_at": op.created_at,
        "confirmed_at": op.confirmed_at,
        "finished_at": op.finished_at,
        "status_note": note.text if note else op.cancel_reason,
        "ineligible_reasons": [
            CountOut(label=reason, count=n) for reason, n in crumbs.ineligible
        ]
        if crumbs
        else [],
        "by_process": [
            CountOut(label=f"{name} ({ws})", count=n)
            for name, ws, n in crumbs.by_process
        ]
        if crumbs
        else [],
    }


@router.post("/bulk", response={201: BulkOut, **ERRORS}, tags=["bulk"])
def create_bulk(request: HttpRequest, body: BulkIn) -> Status[dict[str, Any]]:
    """Preview a bulk action: freeze the items of `filter` (the /items query string) or of
    `ids`; nothing is sent until it is confirmed."""
    require_operator(request)
    if body.team is not None and body.team != token_of(request).team_id:
        raise Http404("No such team.")
    try:
        op = drafts.create_draft(
            request.user,
            action=body.action,
            filter_query=body.filter,
            ids=body.ids,
            team_id=body.team,
        )
    except drafts.SelectionError as err:
        raise ApiRefusal(err.message, 422) from None
    return Status(201, _bulk_out(op))


def _operation(request: HttpRequest, op_id: int, *, act: bool = False) -> BulkOperation:
    return bulk_selectors.operation_for(request.user, op_id, act=act)


@router.get("/bulk/{op_id}", response={200: BulkOut, **ERRORS}, tags=["bulk"])
def get_bulk(request: HttpRequest, op_id: int = Id) -> dict[str, Any]:
    """A bulk operation: its preview, progress and counts."""
    return _bulk_out(_operation(request, op_id))


@router.post("/bulk/{op_id}/confirm", response={200: BulkOut, **ERRORS}, tags=["bulk"])
def confirm_bulk(
    request: HttpRequest, body: ConfirmIn, op_id: int = Id
) -> dict[str, Any]:
    """Confirm a preview with a reason (recorded in the audit log): its items are claimed
    and sent by the workers in chunks."""
    require_operator(request)
    op = _operation(request, op_id, act=True)
    try:
        op = drafts.confirm(
            op, request.user, reason=body.reason, actor=actor_of(request)
        )
    except drafts.SelectionError as err:
        raise ApiRefusal(err.message, 409) from None
    return _bulk_out(op)


@router.post("/bulk/{op_id}/cancel", response={200: BulkOut, **ERRORS}, tags=["bulk"])
def cancel_bulk(request: HttpRequest, op_id: int = Id) -> dict[str, Any]:
    """Stop an operation: chunks not started are cancelled, a running one finishes."""
    require_operator(request)
    op = _operation(request, op_id, act=True)
    if not op.is_active:
        raise ApiRefusal("This operation is not running: there is nothing to cancel.")
    execution.cancel(op, request.user)
    op.refresh_from_db()
    return _bulk_out(op)


@router.get(
    "/bulk/{op_id}/results", response={200: BulkItemPage, **ERRORS}, tags=["bulk"]
)
def bulk_results(
    request: HttpRequest,
    op_id: int = Id,
    state: Literal[bulk_selectors.RESULT_STATES] | None = None,  # type: ignore[valid-type]
    after: int = Query(0, ge=0, le=MAX_ID),
    limit: int = Query(100, ge=1, le=500),
) -> dict[str, Any]:
    """Per-item results of a confirmed operation, in item order."""
    op = _operation(request, op_id)
    rows: list[BulkItem] = list(
        bulk_selectors.results(op, state or "").filter(pk__gt=after)[: limit + 1]
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "results": [
            BulkItemOut(
                id=r.pk,
                work_item_id=r.work_item_id,
                external_id=r.external_id,
                state=r.result_state,
                reason=r.reason,
                finished_at=r.finished_at,
            )
            for r in rows
        ],
        "next": next_link(request, after=str(rows[-1].pk)) if more else None,
    }
