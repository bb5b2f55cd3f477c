"""Process and run pages: statistics, runs, a live run page, step-run outputs, start and stop.

Every view checks the user's role in the workspace's team (other team → 404, viewer on an
operator action → 403). Control Room is read live only for what the mirror does not hold
(console messages, events, artifacts) and for the run being watched.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.http import HttpResponseStopPolling

from dashboard.accounts.http import HtmxHttpRequest
from dashboard.accounts.models import Membership, Role
from dashboard.audit.services import Actor
from dashboard.lib import secretbox
from dashboard.lib.params import page_number
from dashboard.mirror.models import Process, ProcessRun, StepRun
from dashboard.processes import charts, inputs, selectors, services
from dashboard.processes.forms import RunFilterForm, StopForm
from dashboard.workspaces.access import workspace_for_user
from dashboard.workspaces.errors import describe
from dashboard.workspaces.models import Workspace
from dashboard.workspaces.services import build_client

RUNS_PER_PAGE = 50


def _page_number(request: HtmxHttpRequest) -> int:
    return page_number(request.GET.get("page"))


# --- processes ---------------------------------------------------------------------------


def _overview(
    request: HtmxHttpRequest, workspaces: list[Workspace], scope: Workspace | None
) -> HttpResponse:
    window = request.GET.get("window", "7d")
    window = window if window in selectors.WINDOWS else "7d"
    rows, totals = selectors.process_stats(workspaces)
    buckets, unit = selectors.throughput(workspaces, window)
    operator_teams = set(
        Membership.objects.filter(
            user_id=request.user.pk or 0, role__gte=Role.OPERATOR
        ).values_list("team_id", flat=True)
    )
    blocked = {w.pk: w.why_not("start_stop") for w in workspaces}
    for row in rows:
        row.can_start = row.process.workspace.team_id in operator_teams
        row.start_blocked = blocked[row.process.workspace_id]
    context = {
        "scope": scope,
        "workspaces": workspaces,
        "rows": rows,
        "totals": totals,
        "chart": charts.build(buckets, unit),
        "window": window,
        "windows": list(selectors.WINDOWS),
        "states": selectors.WORK_ITEM_STATES,
    }
    return render(request, "processes/process_overview.html", context)


@login_required
@require_GET
def overview(request: HtmxHttpRequest) -> HttpResponse:
    return _overview(request, list(selectors.visible_workspaces(request.user)), None)


@login_required
@require_GET
def workspace_overview(request: HtmxHttpRequest, workspace_id: int) -> HttpResponse:
    workspace, _ = workspace_for_user(request.user, workspace_id, Role.VIEWER)
    return _overview(request, [workspace], workspace)


# --- runs ----------------------------------------------------------------------------------


@login_required
@require_GET
def run_list(request: HtmxHttpRequest) -> HttpResponse:
    workspaces = list(selectors.visible_workspaces(request.user))
    form = RunFilterForm(request.GET or None, workspaces=workspaces)
    runs = selectors.runs_matching(form.run_filter())
    page = Paginator(runs, RUNS_PER_PAGE).get_page(_page_number(request))
    counts = selectors.item_counts_by_run(page.object_list)
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "page": page,
        "rows": [
            (run, selectors.ordered_counts(counts[run.pk])) for run in page.object_list
        ],
        "query": query.urlencode(),
        "states": selectors.WORK_ITEM_STATES,
    }
    template = "processes/run_list.html"
    if request.htmx and request.htmx.target == "run-results":
        template += "#run-results"
    return render(request, template, context)


def _load_run(workspace: Workspace, run_id: str) -> ProcessRun | None:
    return (
        ProcessRun.objects.filter(workspace=workspace, external_id=run_id)
        .select_related("process")
        .first()
    )


def _run_context(
    workspace: Workspace, run: ProcessRun, membership: Membership, refresh_error: str
) -> dict[str, Any]:
    counts = selectors.item_counts_by_run([run])[run.pk]
    return {
        "workspace": workspace,
        "team": workspace.team,
        "membership": membership,
        "run": run,
        "counts": selectors.ordered_counts(counts),
        "total_items": sum(counts.values()),
        "steps": selectors.step_rows(run),
        "refresh_error": refresh_error,
        "live": not run.is_terminal and run.gone_at is None,
        "stop_blocked": workspace.why_not("start_stop"),
        "outputs_blocked": workspace.why_not("run_outputs"),
    }


@login_required
@require_GET
def run_detail(
    request: HtmxHttpRequest, workspace_id: int, run_id: str
) -> HttpResponse:
    workspace, membership = workspace_for_user(request.user, workspace_id, Role.VIEWER)
    run = _load_run(workspace, run_id)
    refresh = services.Refresh()
    if services.run_needs_refresh(run):
        refresh = services.refresh_run(workspace, run_id)
        run = _load_run(workspace, run_id)
    if run is None:
        if refresh.not_found or not refresh.error:
            raise Http404("No such process run.")
        return render(
            request,
            "processes/run_unavailable.html",
            {"workspace": workspace, "run_id": run_id, "error": refresh.error},
            status=503,
        )
    context = _run_context(workspace, run, membership, refresh.error)
    if request.htmx and request.htmx.target == "status":
        response = render(request, "processes/run_detail.html#status", context)
        if not context["live"]:
            # 286 swaps the final state in and tells htmx to stop polling.
            return HttpResponseStopPolling(response.content)
        return response
    return render(request, "processes/run_detail.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def run_stop(request: HtmxHttpRequest, workspace_id: int, run_id: str) -> HttpResponse:
    workspace, _ = workspace_for_user(request.user, workspace_id, Role.OPERATOR)
    run = _load_run(workspace, run_id)
    if run is None:
        raise Http404("No such process run.")
    form = StopForm(request.POST or None)
    error = ""
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            accepted = services.stop_run(
                workspace,
                run,
                terminate=data["mode"] == "terminate",
                remaining_done=data["remaining"] == "done",
                reason=data["reason"],
                actor=Actor.from_request(request),
            )
        except services.ActionFailed as err:
            error = err.message
        else:
            if accepted:
                messages.success(request, "Control Room accepted the stop request.")
            else:
                messages.warning(
                    request,
                    "Control Room did not accept the stop: the run is no longer running.",
                )
            return redirect("processes-run-detail", workspace.pk, run.external_id)
    context = {
        "workspace": workspace,
        "run": run,
        "form": form,
        "error": error,
        "blocked": workspace.why_not("start_stop"),
    }
    status = 400 if request.method == "POST" else 200
    return render(request, "processes/run_stop.html", context, status=status)


# --- start a process -------------------------------------------------------------------------


def _start_input(
    request: HtmxHttpRequest, workspace: Workspace, process: Process, allowed: set[str]
) -> inputs.StartInput:
    post = request.POST
    variant = post.get("variant", "")
    if post.get("stage") == "confirm" and variant in inputs.PAYLOAD_VARIANTS:
        # The reviewed payloads come back as JSON; they are checked again all the same.
        start = inputs.parse_start(
            workspace,
            process.external_id,
            "payloads",
            payloads_text=post.get("payloads_json", ""),
        )
        start.variant = variant
        return start
    upload = request.FILES.get("csv_file")
    return inputs.parse_start(
        workspace,
        process.external_id,
        variant,
        payload_text=post.get("payload", ""),
        payloads_text=post.get("payloads", ""),
        csv_data=upload.read(inputs.MAX_CSV_BYTES + 1) if upload else None,
        work_item_ids=post.getlist("work_item_ids"),
        allowed_item_ids=allowed,
    )


@login_required
@require_http_methods(["GET", "POST"])
def run_start(
    request: HtmxHttpRequest, workspace_id: int, process_id: str
) -> HttpResponse:
    workspace, _ = workspace_for_user(request.user, workspace_id, Role.OPERATOR)
    process = get_object_or_404(
        Process, workspace=workspace, external_id=process_id, gone_at__isnull=True
    )
    waiting = selectors.new_input_items(process)
    context: dict[str, Any] = {
        "workspace": workspace,
        "process": process,
        "variants": inputs.VARIANTS,
        "waiting": waiting,
        "blocked": workspace.why_not("start_stop"),
        "post": request.POST,
        "chosen": request.POST.get("variant", "none"),
        "max_payloads": inputs.MAX_PAYLOADS,
    }
    if request.method == "GET":
        return render(request, "processes/run_start.html", context)
    start = _start_input(request, workspace, process, {i.external_id for i in waiting})
    context["start"] = start
    if not start.ok:
        return render(request, "processes/run_start.html", context, status=400)
    if request.POST.get("stage") != "confirm":
        return render(request, "processes/run_start_confirm.html", context)
    try:
        started = services.start_run(
            workspace, process, start, actor=Actor.from_request(request)
        )
    except services.ActionFailed as err:
        context["action_error"] = err.message
        return render(request, "processes/run_start_confirm.html", context, status=400)
    if not started.started or not started.id:
        messages.warning(
            request,
            "Control Room started no run: nothing was waiting in the input queue of "
            f"{process.name}. “Queued inputs” only takes work items created earlier "
            "(state new, not in a run); add some, or start with payloads instead.",
        )
        return redirect("processes-start", workspace.pk, process.external_id)
    messages.success(request, f"Started a run of {process.name}.")
    return redirect("processes-run-detail", workspace.pk, started.id)


# --- step runs: console, events, artifacts ------------------------------------------------


def _step_run(workspace: Workspace, run_id: str, step_run_id: str) -> StepRun:
    """Return the mirrored step run of the run; re-read the run once if it is missing."""

    def find() -> StepRun | None:
        return (
            StepRun.objects.filter(
                workspace=workspace,
                external_id=step_run_id,
                process_run__external_id=run_id,
            )
            .select_related("process_run", "process_run__process")
            .first()
        )

    step = find()
    if step is None:
        services.refresh_run(workspace, run_id)
        step = find()
    if step is None:
        raise Http404("No such step run.")
    return step


@login_required
@require_GET
def steprun_detail(
    request: HtmxHttpRequest, workspace_id: int, run_id: str, step_run_id: str
) -> HttpResponse:
    workspace, membership = workspace_for_user(request.user, workspace_id, Role.VIEWER)
    step = _step_run(workspace, run_id, step_run_id)
    newest_first = request.GET.get("order") == "newest"
    page = _page_number(request)
    context: dict[str, Any] = {
        "workspace": workspace,
        "membership": membership,
        "run": step.process_run,
        "step": step,
        "outputs_blocked": workspace.why_not("run_outputs"),
    }
    try:
        client = build_client(workspace, **services.INTERACTIVE)
    except secretbox.SecretUnavailable as err:
        context["client_error"] = describe(err, needs=services.READ_OUTPUTS)
        return render(request, "processes/steprun_detail.html", context)
    with client:
        context["console"] = services.console_page(
            client, step.external_id, page=page, newest_first=newest_first
        )
        if request.htmx and request.htmx.target == "console":
            return render(request, "processes/steprun_detail.html#console", context)
        context["events"] = services.step_events(client, step.external_id)
        context["artifacts"] = services.step_artifacts(client, step.external_id)
    context["failed_items"] = list(
        step.process_run.work_items.filter(
            step_run_external_id=step.external_id, state="failed", gone_at__isnull=True
        ).order_by("state_updated_at", "id")[:50]
    )
    return render(request, "processes/steprun_detail.html", context)


@login_required
@require_GET
def artifact_download(
    request: HtmxHttpRequest,
    workspace_id: int,
    run_id: str,
    step_run_id: str,
    artifact_id: str,
) -> HttpResponseBase:
    workspace, _ = workspace_for_user(request.user, workspace_id, Role.VIEWER)
    step = _step_run(workspace, run_id, step_run_id)
    try:
        download = services.open_artifact(workspace, step.external_id, artifact_id)
    except services.ActionFailed as err:
        if err.not_found:
            raise Http404("No such artifact.") from None
        messages.error(request, f"The artifact could not be downloaded. {err.message}")
        return redirect(
            "processes-steprun-detail", workspace.pk, run_id, step.external_id
        )
    response = StreamingHttpResponse(
        download.chunks, content_type="application/octet-stream"
    )
    response["Content-Disposition"] = services.content_disposition(download.name)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response
