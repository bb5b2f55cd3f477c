"""Processes, runs, step runs and their outputs (console, events, artifacts streamed)."""

from __future__ import annotations

import json
from typing import Any, Literal

from django.http import Http404, HttpRequest, StreamingHttpResponse
from ninja import Path, Query, Router
from ninja.responses import Status

from dashboard.api.routes.common import (
    ERRORS,
    MAX_ID,
    ApiRefusal,
    Id,
    actor_of,
    next_link,
    require_operator,
    scope_of,
)
from dashboard.api.schemas import (
    ConsoleOut,
    ProcessOut,
    RunOut,
    RunPage,
    SectionOut,
    StartedOut,
    StartIn,
    StepRunOut,
)
from dashboard.lib.secretbox import SecretUnavailable
from dashboard.mirror.models import Process, ProcessRun, StepRun
from dashboard.processes import inputs as run_inputs
from dashboard.processes import selectors as run_selectors
from dashboard.processes import services as run_services
from dashboard.workitems.selectors import (
    decode_cursor,
    encode_cursor,
)
from dashboard.workspaces.errors import describe
from dashboard.workspaces.services import build_client
from robocorp_api.models import PROCESS_RUN_STATES

router = Router()


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
        "number": r.number,
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
