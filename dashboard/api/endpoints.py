"""The /api/ endpoints: thin adapters from HTTP to the services every page uses.

Each call runs as the token's principal (`request.user`, set by `conventions.ApiMiddleware`),
so `Scope.for_user`, `actions.apply`, bulk drafts/confirm/cancel and the audit trail apply the
same rules as in the UI: another team's ids are 404, a viewer cannot act.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date
from typing import Any, BinaryIO, Literal, cast

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, QueryDict, StreamingHttpResponse
from ninja import File, Path, Query, Router, UploadedFile
from ninja.responses import Status

from dashboard.accounts.models import Role
from dashboard.api.models import ApiToken
from dashboard.api.schemas import (
    ActionOut,
    BulkIn,
    BulkItemOut,
    BulkItemPage,
    BulkOut,
    Choice,
    ConfirmIn,
    ConsoleOut,
    CountOut,
    FeatureOut,
    ItemPage,
    PayloadIn,
    PickListOut,
    Problem,
    ProcessOut,
    RunOut,
    RunPage,
    SavedViewOut,
    SectionOut,
    StartedOut,
    StartIn,
    StepRunOut,
    TeamOut,
    TriageGroupOut,
    TriageOut,
    WorkItemDetail,
    WorkItemOut,
    WorkspaceOut,
)
from dashboard.audit.services import Actor
from dashboard.bulk import drafts, execution
from dashboard.bulk import selectors as bulk_selectors
from dashboard.bulk.models import BulkItem, BulkOperation
from dashboard.lib.errors import WorkroomError
from dashboard.lib.secretbox import SecretUnavailable
from dashboard.mirror.models import Process, ProcessRun, StepRun, WorkItem
from dashboard.processes import inputs as run_inputs
from dashboard.processes import selectors as run_selectors
from dashboard.processes import services as run_services
from dashboard.workitems import services as item_services
from dashboard.workitems.filtering import read_filter
from dashboard.workitems.models import SavedView
from dashboard.workitems.selectors import (
    Scope,
    data_as_of,
    decode_cursor,
    encode_cursor,
    failure_groups,
    filtered_items,
    item_data_as_of,
    keyset_page,
    state_counts,
)
from dashboard.workspaces.errors import describe
from dashboard.workspaces.models import FEATURES, Workspace
from dashboard.workspaces.services import build_client
from robocorp_api.models import EXCEPTION_TYPES, PROCESS_RUN_STATES, WORK_ITEM_STATES

router = Router()
# The refusals every operation may answer, each as a problem document.
ERRORS: dict[Any, Any] = {frozenset({400, 401, 403, 404, 409, 422, 429, 503}): Problem}
MAX_ID = 2**53
Id = Path(..., ge=1, le=MAX_ID)


class ApiRefusal(WorkroomError):
    """A refusal with the HTTP status that says it (the message is the UI's)."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.status = status


def token_of(request: HttpRequest) -> ApiToken:
    token = getattr(request, "api_token", None)
    if token is None:  # the middleware lets no request through without one
        raise PermissionDenied("An API token is needed.")
    return token


def scope_of(request: HttpRequest) -> Scope:
    return Scope.for_user(request.user)


def actor_of(request: HttpRequest) -> Actor:
    return Actor.from_request(request)


def require_operator(request: HttpRequest) -> None:
    token = token_of(request)
    if not token.can_act:
        raise PermissionDenied(
            f"The token {token.name} is a viewer token: it can read, not act."
        )


def next_link(request: HttpRequest, **changes: str) -> str:
    params = request.GET.copy()
    for name, value in changes.items():
        params[name] = value
    params.pop("before", None)
    return request.build_absolute_uri(f"{request.path}?{params.urlencode()}")


# --- teams and workspaces -------------------------------------------------------------------


@router.get("/teams", response={200: list[TeamOut], **ERRORS}, tags=["teams"])
def list_teams(request: HttpRequest) -> list[dict[str, Any]]:
    """The token's team (a token belongs to one team)."""
    token = token_of(request)
    role: Literal["viewer", "operator"] = (
        "operator" if token.role >= Role.OPERATOR else "viewer"
    )
    team = token.team
    return [{"id": team.pk, "name": team.name, "slug": team.slug, "role": role}]


def _workspace_out(ws: Workspace, as_of: dict[int, Any]) -> dict[str, Any]:
    return {
        "id": ws.pk,
        "team_id": ws.team_id,
        "name": ws.name,
        "cr_workspace_id": ws.cr_workspace_id,
        "enabled": ws.enabled,
        "features": [
            FeatureOut(
                slug=f.slug,
                label=f.label,
                available=not ws.why_not(f.slug),
                why_not=ws.why_not(f.slug),
            )
            for f in FEATURES
        ],
        "data_as_of": as_of.get(ws.pk),
    }


@router.get(
    "/workspaces", response={200: list[WorkspaceOut], **ERRORS}, tags=["workspaces"]
)
def list_workspaces(request: HttpRequest) -> list[dict[str, Any]]:
    """The team's Control Room workspaces and what each key may do (never the key)."""
    scope = scope_of(request)
    as_of = data_as_of(list(scope.workspaces))
    return [_workspace_out(ws, as_of) for ws in scope.workspaces.values()]


def _workspace(request: HttpRequest, workspace_id: int) -> Workspace:
    ws = scope_of(request).workspaces.get(workspace_id)
    if ws is None:
        raise Http404("No such workspace.")
    return ws


@router.get(
    "/workspaces/{workspace_id}",
    response={200: WorkspaceOut, **ERRORS},
    tags=["workspaces"],
)
def get_workspace(request: HttpRequest, workspace_id: int = Id) -> dict[str, Any]:
    ws = _workspace(request, workspace_id)
    return _workspace_out(ws, data_as_of([ws.pk]))


# --- processes, runs, step runs -------------------------------------------------------------


def _process_out(p: Process) -> dict[str, Any]:
    return {
        "id": p.pk,
        "workspace_id": p.workspace_id,
        "external_id": p.external_id,
        "name": p.name,
        "item_counts": {k: int(v) for k, v in (p.item_counts or {}).items()},
    }


@router.get(
    "/processes", response={200: list[ProcessOut], **ERRORS}, tags=["processes"]
)
def list_processes(
    request: HttpRequest, workspace: int | None = Query(None, ge=1, le=MAX_ID)
) -> list[dict[str, Any]]:
    """The processes of the team's workspaces, with their items per state."""
    return [
        _process_out(p)
        for p in scope_of(request).processes()
        if workspace is None or p.workspace_id == workspace
    ]


@router.get(
    "/processes/{process_id}",
    response={200: ProcessOut, **ERRORS},
    tags=["processes"],
)
def get_process(request: HttpRequest, process_id: int = Id) -> dict[str, Any]:
    for p in scope_of(request).processes():
        if p.pk == process_id:
            return _process_out(p)
    raise Http404("No such process.")


@router.post(
    "/processes/{process_id}/runs",
    response={201: StartedOut, **ERRORS},
    tags=["processes"],
)
def start_process(
    request: HttpRequest, body: StartIn, process_id: int = Id
) -> Status[dict[str, Any]]:
    """Start a run of the process, without input or with one work item per payload (each
    checked against the process's JSON Schema when one is set)."""
    require_operator(request)
    scope = scope_of(request)
    process = Process.objects.filter(
        pk=process_id, workspace_id__in=list(scope.workspaces), gone_at__isnull=True
    ).first()
    if process is None:
        raise Http404("No such process.")
    workspace = scope.workspaces[process.workspace_id]
    if why := scope.why_not(workspace, "start_stop"):
        raise ApiRefusal(why, 403)
    start = run_inputs.parse_start(
        workspace,
        process.external_id,
        "payloads" if body.payloads is not None else "none",
        payloads_text=json.dumps(body.payloads) if body.payloads is not None else "",
    )
    if not start.ok:
        raise ApiRefusal(" ".join(start.errors), 422)
    try:
        started = run_services.start_run(
            workspace, process, start, actor=actor_of(request)
        )
    except run_services.ActionFailed as err:
        raise ApiRefusal(err.message, 404 if err.not_found else 409) from None
    run = (
        ProcessRun.objects.filter(workspace=workspace, external_id=started.id).first()
        if started.id
        else None
    )
    return Status(
        201,
        {
            "started": started.started,
            "run": _run_out(run) if run is not None else None,
            "message": f"Started a run of {process.name}."
            if started.started
            else "Control Room started no run: nothing was waiting.",
        },
    )


def _run_out(r: ProcessRun) -> dict[str, Any]:
    return {
        "id": r.pk,
        "workspace_id": r.workspace_id,
        "process_id": r.process_id,
        "external_id": r.external_id,
        "state": r.state,
        "created_at": r.created_at,
        "started_at": r.started_at,
        "ended_at": r.ended_at,
        "duration": r.duration,
        "started_by_type": r.started_by_type,
    }


@router.get("/runs", response={200: RunPage, **ERRORS}, tags=["runs"])
def list_runs(
    request: HttpRequest,
    workspace: int | None = Query(None, ge=1, le=MAX_ID),
    process: int | None = Query(None, ge=1, le=MAX_ID),
    state: Literal[PROCESS_RUN_STATES] | None = None,  # type: ignore[valid-type]
    limit: int = Query(50, ge=1, le=200),
    after: str = Query("", max_length=200, pattern=r"^[A-Za-z0-9_=-]*$"),
) -> dict[str, Any]:
    """Process runs, newest first; `next` is the link to the following page."""
    scope = scope_of(request)
    flt = run_selectors.RunFilter(
        workspaces=list(scope.workspaces.values()),
        workspace=scope.workspaces.get(workspace) if workspace else None,
        state=state or "",
    )
    if workspace and flt.workspace is None:
        return {"runs": [], "next": None}
    runs = run_selectors.runs_matching(flt)
    if process:
        runs = runs.filter(process_id=process)
    moment, pk = (decode_cursor(after) if after else None) or (None, 0)
    if moment is not None:
        runs = runs.filter(created_at__lte=moment).exclude(
            created_at=moment, id__gte=pk
        )
    rows = list(runs[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "runs": [_run_out(r) for r in rows],
        "next": next_link(
            request, after=encode_cursor(rows[-1].created_at, rows[-1].pk)
        )
        if more
        else None,
    }


def _run(request: HttpRequest, run_id: int) -> ProcessRun:
    run = (
        ProcessRun.objects.filter(
            pk=run_id, workspace_id__in=list(scope_of(request).workspaces)
        )
        .select_related("workspace")
        .first()
    )
    if run is None:
        raise Http404("No such process run.")
    return run


@router.get("/runs/{run_id}", response={200: RunOut, **ERRORS}, tags=["runs"])
def get_run(request: HttpRequest, run_id: int = Id) -> dict[str, Any]:
    return _run_out(_run(request, run_id))


@router.get(
    "/runs/{run_id}/steps", response={200: list[StepRunOut], **ERRORS}, tags=["runs"]
)
def list_step_runs(request: HttpRequest, run_id: int = Id) -> list[dict[str, Any]]:
    """The run's step runs, each with its number of work items (and failed ones)."""
    return [
        {
            "id": row.step_run.pk,
            "external_id": row.step_run.external_id,
            "step_name": row.step_run.step_name,
            "state": row.step_run.state,
            "error_code": row.step_run.error_code,
            "started_at": row.step_run.started_at,
            "ended_at": row.step_run.ended_at,
            "items": row.items,
            "failed_items": row.failed_items,
        }
        for row in run_selectors.step_rows(_run(request, run_id))
    ]


@router.get(
    "/steps/{step_id}/console", response={200: ConsoleOut, **ERRORS}, tags=["runs"]
)
def step_console(
    request: HttpRequest, step_id: int = Id, page: int = Query(1, ge=1, le=10_000)
) -> dict[str, Any]:
    """One page of a step run's console, oldest first, read live from Control Room."""
    step = _step(request, step_id)
    try:
        client = build_client(step.workspace, **run_services.INTERACTIVE)
    except SecretUnavailable as err:
        raise ApiRefusal(describe(err), 503) from None
    with client:
        console = run_services.console_page(
            client, step.external_id, page=page, newest_first=False
        )
    return {
        "step_run_id": step.pk,
        "messages": [m.model_dump(mode="json") for m in console.rows],
        "page": console.page,
        "next": next_link(request, page=str(page + 1)) if console.has_next else None,
        "error": console.error,
    }


def _step(request: HttpRequest, step_id: int) -> StepRun:
    step = (
        StepRun.objects.filter(
            pk=step_id, workspace_id__in=list(scope_of(request).workspaces)
        )
        .select_related("workspace")
        .first()
    )
    if step is None:
        raise Http404("No such step run.")
    why = step.workspace.why_not("run_outputs")
    if why:
        raise ApiRefusal(f"{step.workspace.name}: {why}", 403)
    return step


def _section(step: StepRun, read: str) -> dict[str, Any]:
    try:
        client = build_client(step.workspace, **run_services.INTERACTIVE)
    except SecretUnavailable as err:
        raise ApiRefusal(describe(err), 503) from None
    with client:
        reader = (
            run_services.step_events
            if read == "events"
            else run_services.step_artifacts
        )
        section = reader(client, step.external_id)
    return {
        "step_run_id": step.pk,
        "rows": [row.model_dump(mode="json", exclude={"url"}) for row in section.rows],
        "truncated": section.truncated,
        "error": section.error,
    }


@router.get(
    "/steps/{step_id}/events", response={200: SectionOut, **ERRORS}, tags=["runs"]
)
def step_events(request: HttpRequest, step_id: int = Id) -> dict[str, Any]:
    """A step run's events, read live from Control Room."""
    return _section(_step(request, step_id), "events")


@router.get(
    "/steps/{step_id}/artifacts", response={200: SectionOut, **ERRORS}, tags=["runs"]
)
def step_artifacts(request: HttpRequest, step_id: int = Id) -> dict[str, Any]:
    """A step run's artifacts (id, name, size); download one from .../artifacts/{id}."""
    return _section(_step(request, step_id), "artifacts")


@router.get(
    "/steps/{step_id}/artifacts/{artifact_id}",
    response={200: None, **ERRORS},
    tags=["runs"],
    openapi_extra={
        "responses": {
            200: {
                "description": "The artifact's bytes, streamed.",
                "content": {"application/octet-stream": {"schema": {}}},
            }
        }
    },
)
def download_artifact(
    request: HttpRequest,
    step_id: int = Id,
    artifact_id: str = Path(..., max_length=100, pattern=r"^[A-Za-z0-9_.-]+$"),
) -> StreamingHttpResponse:
    """Stream one artifact from Control Room (never held in memory)."""
    step = _step(request, step_id)
    try:
        download = run_services.open_artifact(
            step.workspace, step.external_id, artifact_id
        )
    except run_services.ActionFailed as err:
        raise ApiRefusal(err.message, 404 if err.not_found else 409) from None
    response = StreamingHttpResponse(
        download.chunks, content_type="application/octet-stream"
    )
    response["Content-Disposition"] = run_services.content_disposition(download.name)
    response["X-Content-Type-Options"] = "nosniff"
    return response


# --- work items -----------------------------------------------------------------------------


def _item_out(item: WorkItem) -> dict[str, Any]:
    return {
        name: getattr(item, name)
        for name in WorkItemOut.model_fields
        if name not in ("process_id", "workspace_id")
    } | {"process_id": item.process_id, "workspace_id": item.workspace_id}


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
        "counts": state_counts(scope, filters),
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
                state=r.state,
                reason=r.reason,
                finished_at=r.finished_at,
            )
            for r in rows
        ],
        "next": next_link(request, after=str(rows[-1].pk)) if more else None,
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
