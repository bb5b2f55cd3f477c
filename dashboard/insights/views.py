"""Insights pages: across my workspaces, one workspace, one process (with its value form).

Views are thin: the period is parsed by `selectors.period`, the numbers come from
`selectors.insights_for` over the rollups, charts from `charts`, CSVs from `exports`.
A bad period or table name answers 400 with the page and a message, never a 500.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from dashboard.accounts.http import HtmxHttpRequest
from dashboard.accounts.models import Role
from dashboard.audit.services import Actor
from dashboard.insights import exports, presenters, selectors, services
from dashboard.insights.forms import ProcessValueForm
from dashboard.mirror.models import Process
from dashboard.workitems.selectors import Scope
from dashboard.workspaces.access import workspace_for_user
from dashboard.workspaces.models import Workspace


def _render(
    request: HtmxHttpRequest,
    workspace_ids: list[int],
    name: str,
    context: dict[str, Any],
    *,
    process: Process | None = None,
    status: int = 200,
) -> HttpResponse:
    errors = []
    try:
        per = selectors.period(request.GET.get("period"))
    except selectors.PeriodError as err:
        errors.append(err.message)
        per = selectors.period(None)
    data = selectors.insights_for(workspace_ids, per, process=process)
    table = request.GET.get("csv")
    if table and not errors:
        if table in exports.TABLES:
            return exports.response(data, table, name)
        errors.append(
            f"There is no table “{table[:30]}” to download: "
            f"choose {', '.join(exports.TABLES)}."
        )
    context |= {
        "data": data,
        "charts": presenters.charts_for(data),
        "periods": selectors.PERIODS,
        "errors": errors,
        "query": f"period={per.key}",
    }
    return render(
        request,
        "insights/insights.html",
        context,
        status=400 if errors else status,
    )


@login_required
@require_GET
def overview(request: HtmxHttpRequest) -> HttpResponse:
    scope = Scope.for_user(request.user)
    context = {"workspaces": list(scope.workspaces.values()), "level": "all"}
    return _render(request, list(scope.workspaces), "all", context)


@login_required
@require_GET
def workspace(request: HtmxHttpRequest, workspace_id: int) -> HttpResponse:
    ws, _ = workspace_for_user(request.user, workspace_id, Role.VIEWER)
    context = {"workspace": ws, "level": "workspace"}
    return _render(request, [ws.pk], f"workspace-{ws.pk}", context)


def _process(ws: Workspace, process_id: str) -> Process:
    process = (
        Process.objects.filter(workspace=ws, external_id=process_id)
        .select_related("workspace")
        .first()
    )
    if process is None:
        raise Http404("No such process in this workspace.")
    return process


@login_required
@require_GET
def process(
    request: HtmxHttpRequest, workspace_id: int, process_id: str
) -> HttpResponse:
    ws, membership = workspace_for_user(request.user, workspace_id, Role.VIEWER)
    proc = _process(ws, process_id)
    return _process_page(request, ws, proc, membership.role >= Role.ADMIN, None)


def _process_page(
    request: HtmxHttpRequest,
    ws: Workspace,
    proc: Process,
    is_admin: bool,
    form: ProcessValueForm | None,
    status: int = 200,
) -> HttpResponse:
    context: dict[str, Any] = {
        "workspace": ws,
        "process": proc,
        "level": "process",
        "is_admin": is_admin,
    }
    if is_admin:
        context["form"] = form or ProcessValueForm(
            initial=presenters.value_initial(ws, proc)
        )
    return _render(
        request,
        [ws.pk],
        f"process-{proc.external_id[:40]}",
        context,
        process=proc,
        status=status,
    )


@login_required
@require_POST
def process_value(
    request: HtmxHttpRequest, workspace_id: int, process_id: str
) -> HttpResponse:
    ws, _ = workspace_for_user(request.user, workspace_id, Role.ADMIN)
    proc = _process(ws, process_id)
    form = ProcessValueForm(request.POST)
    if not form.is_valid():
        return _process_page(request, ws, proc, True, form, status=400)
    services.set_value(Actor.from_request(request), ws, proc, form.cleaned_data)
    messages.success(request, f"Saved the value and SLA of {proc.name}.")
    return redirect(reverse("insights-process", args=[ws.pk, proc.external_id]))
