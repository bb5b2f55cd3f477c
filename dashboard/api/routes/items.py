"""Work items (the explorer's filter, keyset pages, one item's actions), triage groups and
saved views."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any, BinaryIO, Literal, cast

from django.http import Http404, HttpRequest, QueryDict
from ninja import Field, File, Query, Router, Schema, UploadedFile

from dashboard.accounts.models import User
from dashboard.api.routes.common import (
    ERRORS,
    MAX_ID,
    ApiRefusal,
    Id,
    actor_of,
    next_link,
    require_operator,
    scope_of,
    token_of,
)
from dashboard.api.schemas import (
    ActionOut,
    ItemPage,
    PayloadIn,
    SavedViewOut,
    TriageGroupOut,
    TriageOut,
    WorkItemDetail,
    WorkItemOut,
)
from dashboard.mirror.models import Process, WorkItem
from dashboard.workitems import collab
from dashboard.workitems import services as item_services
from dashboard.workitems.filtering import read_filter
from dashboard.workitems.models import ItemHandling, ReviewStatus, SavedView
from dashboard.workitems.selectors import (
    Scope,
    data_as_of,
    failure_groups,
    filtered_items,
    item_data_as_of,
    keyset_page,
    state_counts,
)
from robocorp_api.models import EXCEPTION_TYPES, WORK_ITEM_STATES

router = Router()


# --- work items -----------------------------------------------------------------------------


def _item_out(item: WorkItem) -> dict[str, Any]:
    """The list row of an item: the fields of WorkItemOut, read off the mirror row."""
    return {name: getattr(item, name) for name in WorkItemOut.model_fields}


def _item_detail(item: WorkItem) -> dict[str, Any]:
    as_of = data_as_of([item.workspace_id]).get(item.workspace_id)
    return _item_out(item) | {
        "payload": item.payload,
        "files": item.files or [],
        "data_as_of": item_data_as_of(item, as_of),
    }


def _query(values: Iterable[tuple[str, Any]]) -> QueryDict:
    query = QueryDict(mutable=True)
    for name, value in values:
        if value is None or value == "":
            continue
        if isinstance(value, list):
            query.setlist(name, [str(v) for v in value])
        elif isinstance(value, date):
            query[name] = value.isoformat()
        else:
            query[name] = str(value)
    return query


NO_NUL = r"^[^\x00]*$"


@router.get("/items", response={200: ItemPage, **ERRORS}, tags=["work items"])
def list_items(
    request: HttpRequest,
    workspace: int | None = Query(None, ge=1, le=MAX_ID),
    process: int | None = Query(None, ge=1, le=MAX_ID),
    run: str = Query("", max_length=100, pattern=NO_NUL),
    state: list[Literal[WORK_ITEM_STATES]] | None = Query(None),  # type: ignore[valid-type]  # noqa: B008
    exception_type: Literal[EXCEPTION_TYPES] | None = None,  # type: ignore[valid-type]
    exception_code: str = Query("", max_length=200, pattern=NO_NUL),
    signature: str = Query("", max_length=255, pattern=NO_NUL),
    message: str = Query("", max_length=200, pattern=NO_NUL),
    payload: str = Query("", max_length=200, pattern=NO_NUL),
    created_from: date | None = None,
    created_to: date | None = None,
    updated_from: date | None = None,
    updated_to: date | None = None,
    sort: Literal["-created", "created", "-updated", "updated"] = "-created",
    page_size: Literal["25", "50", "100", "200"] = "50",
    after: str = Query("", max_length=200, pattern=NO_NUL),
) -> dict[str, Any]:
    """The explorer's items: the same filter (read by the explorer's own form, so a refusal
    reads the same), keyset pages; `next` links to the following page."""
    scope = scope_of(request)
    _known(scope, workspace, process)
    values = {
        "workspace": workspace,
        "process": process,
        "run": run,
        "state": list(state or []),
        "exception_type": exception_type,
        "exception_code": exception_code,
        "signature": signature,
        "message": message,
        "payload": payload,
        "created_from": created_from,
        "created_to": created_to,
        "updated_from": updated_from,
        "updated_to": updated_to,
        "sort": sort,
        "page_size": page_size,
    }
    item_filter = read_filter(scope, _query(values.items()))
    if item_filter.error:
        raise ApiRefusal(item_filter.error, 422)
    filters = item_filter.filters
    page = keyset_page(
        filtered_items(scope, filters),
        sort=sort,
        page_size=int(page_size),
        after=after,
    )
    return {
        "items": [_item_out(i) for i in page.rows],
        "next": next_link(request, after=page.next_cursor)
        if page.next_cursor
        else None,
        "counts": state_counts(scope, filters, page),
    }


def _known(scope: Scope, workspace: int | None, process: int | None) -> None:
    """Another team's (or no) workspace or process is a 404, as everywhere in the API."""
    if workspace is not None and workspace not in scope.workspaces:
        raise Http404("No such workspace.")
    if (
        process is not None
        and not Process.objects.filter(
            pk=process, workspace_id__in=list(scope.workspaces), gone_at__isnull=True
        ).exists()
    ):
        raise Http404("No such process.")


def _item(request: HttpRequest, item_id: int) -> WorkItem:
    item = (
        WorkItem.objects.filter(
            pk=item_id,
            workspace_id__in=list(scope_of(request).workspaces),
        )
        .select_related("workspace__team", "process", "process_run")
        .first()
    )
    if item is None:
        raise Http404("No such work item.")
    return item


@router.get(
    "/items/{item_id}", response={200: WorkItemDetail, **ERRORS}, tags=["work items"]
)
def get_item(request: HttpRequest, item_id: int = Id) -> dict[str, Any]:
    """One work item with its payload and files, as the mirror holds it."""
    return _item_detail(_item(request, item_id))


def _acted(result: item_services.ActionResult) -> dict[str, Any]:
    return {"message": result.message, "item": _item_detail(result.item)}


def _act(request: HttpRequest, item_id: int, action: str) -> dict[str, Any]:
    require_operator(request)
    item = _item(request, item_id)
    try:
        return _acted(item_services.run_batch_action(action, item, actor_of(request)))
    except item_services.ActionError as err:
        raise ApiRefusal(err.message, 409) from None


@router.post(
    "/items/{item_id}/retry", response={200: ActionOut, **ERRORS}, tags=["work items"]
)
def retry_item(request: HttpRequest, item_id: int = Id) -> dict[str, Any]:
    """Retry one failed item (the item page's Retry)."""
    return _act(request, item_id, "retry")


@router.post(
    "/items/{item_id}/mark-done",
    response={200: ActionOut, **ERRORS},
    tags=["work items"],
)
def mark_item_done(request: HttpRequest, item_id: int = Id) -> dict[str, Any]:
    """Mark one failed item done."""
    return _act(request, item_id, "mark_as_done")


@router.post(
    "/items/{item_id}/delete", response={200: ActionOut, **ERRORS}, tags=["work items"]
)
def delete_item(request: HttpRequest, item_id: int = Id) -> dict[str, Any]:
    """Delete one failed item in Control Room."""
    return _act(request, item_id, "delete")


@router.post(
    "/items/{item_id}/payload",
    response={200: ActionOut, **ERRORS},
    tags=["work items"],
)
def edit_item_payload(
    request: HttpRequest, body: PayloadIn, item_id: int = Id
) -> dict[str, Any]:
    """Replace the item's payload (checked against the process's JSON Schema when set)."""
    require_operator(request)
    item = _item(request, item_id)
    try:
        result = item_services.update_payload(item, body.payload, actor_of(request))
    except item_services.ActionError as err:
        raise ApiRefusal(err.message, 409) from None
    if result.schema_errors:
        raise ApiRefusal(
            result.message + " " + "; ".join(str(e) for e in result.schema_errors),
            422,
        )
    return _acted(result)


@router.post(
    "/items/{item_id}/files",
    response={200: ActionOut, **ERRORS},
    tags=["work items"],
)
def upload_item_file(
    request: HttpRequest,
    item_id: int = Id,
    file: UploadedFile = File(...),  # noqa: B008
) -> dict[str, Any]:
    """Attach a file to the item in Control Room (multipart field `file`; streamed)."""
    require_operator(request)
    item = _item(request, item_id)
    name = (file.name or "").strip()
    if not name or "\x00" in name:
        raise ApiRefusal("Give the file a name.", 422)
    try:
        result = item_services.upload_file(
            item,
            actor_of(request),
            file_name=name,
            data=cast(BinaryIO, file),
            size=file.size or 0,
        )
    except item_services.ActionError as err:
        raise ApiRefusal(err.message, 409) from None
    return _acted(result)


# --- triage ---------------------------------------------------------------------------------


@router.get("/triage", response={200: TriageOut, **ERRORS}, tags=["triage"])
def triage(
    request: HttpRequest,
    workspace: int | None = Query(None, ge=1, le=MAX_ID),
    process: int | None = Query(None, ge=1, le=MAX_ID),
    exception_type: Literal[EXCEPTION_TYPES] | None = None,  # type: ignore[valid-type]
) -> dict[str, Any]:
    """Failed items grouped by cause; each group's `filter` selects exactly its items (for
    /items or a bulk operation)."""
    found = failure_groups(
        scope_of(request),
        workspace=workspace,
        process=process,
        exception_type=exception_type or "",
    )
    return {
        "groups": [
            TriageGroupOut(
                workspace_id=g.workspace.pk,
                process_id=g.process.pk if g.process else None,
                process_name=g.process.name if g.process else "",
                exception_type=g.exception_type,
                exception_code=g.exception_code,
                signature=g.signature,
                count=g.count,
                first_seen=g.first_seen,
                last_seen=g.last_seen,
                sample_message=g.sample_message,
                advice=g.advice,
                filter=g.explorer_query,
            )
            for g in found.groups
        ],
        "total_failed": found.total_failed,
        "truncated": found.truncated,
    }


# --- saved views ------------------------------------------------------------------------------


@router.get(
    "/saved-views", response={200: list[SavedViewOut], **ERRORS}, tags=["work items"]
)
def list_saved_views(request: HttpRequest) -> list[dict[str, Any]]:
    """The team's saved explorer views; `filter` is their /items query string."""
    return [
        {"id": v.pk, "team_id": v.team_id, "name": v.name, "filter": v.query}
        for v in SavedView.objects.filter(team=token_of(request).team).order_by(
            "name", "id"
        )
    ]


# --- working on failures together -----------------------------------------------------------


class OwnerIn(Schema):
    owner: str | None = Field(
        None, description="A team member's username; null unassigns."
    )


class ReviewIn(Schema):
    status: Literal["none", "in_review", "verified", "retried"]


class HandlingOut(Schema):
    item_id: int
    owner: str | None
    review_status: str
    changed: bool


def _handling_out(item: WorkItem, changed: int) -> dict[str, Any]:
    handling = (
        ItemHandling.objects.filter(work_item=item).select_related("owner").first()
    )
    return {
        "item_id": item.pk,
        "owner": handling.owner.get_username() if handling and handling.owner else None,
        "review_status": handling.review_status if handling else ReviewStatus.NONE,
        "changed": bool(changed),
    }


@router.post(
    "/items/{item_id}/owner",
    response={200: HandlingOut, **ERRORS},
    tags=["work items"],
)
def set_item_owner(
    request: HttpRequest, body: OwnerIn, item_id: int = Id
) -> dict[str, Any]:
    """Assign the item to a member of its team (an operator or admin), or unassign it."""
    require_operator(request)
    item = _item(request, item_id)
    owner = None
    if body.owner:
        owner = User.objects.filter(username=body.owner, is_active=True).first()
        if owner is None:
            raise ApiRefusal(f"No member called {body.owner!r}.", 422)
    try:
        changed = collab.assign([item], owner, actor_of(request))
    except collab.CollabError as err:
        raise ApiRefusal(err.message, 422) from None
    return _handling_out(item, changed)


@router.post(
    "/items/{item_id}/review",
    response={200: HandlingOut, **ERRORS},
    tags=["work items"],
)
def set_item_review(
    request: HttpRequest, body: ReviewIn, item_id: int = Id
) -> dict[str, Any]:
    """Set the item's review status (verified items are left out of retries by policies and
    of bulk retries unless included)."""
    require_operator(request)
    item = _item(request, item_id)
    try:
        changed = collab.set_review([item], body.status, actor_of(request))
    except collab.CollabError as err:
        raise ApiRefusal(err.message, 422) from None
    return _handling_out(item, changed)
