"""Workspace pages: members read, admins manage. The key is never in a context."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from dashboard.accounts.http import HtmxHttpRequest
from dashboard.accounts.models import Role, Team
from dashboard.accounts.permissions import require_role
from dashboard.workspaces import services
from dashboard.workspaces.access import workspace_for_user
from dashboard.workspaces.forms import ReplaceKeyForm, WorkspaceAddForm


@login_required
@require_GET
def workspace_list(request: HtmxHttpRequest, team_slug: str) -> HttpResponse:
    team = get_object_or_404(Team, slug=team_slug)
    membership = require_role(request.user, team, Role.VIEWER)
    context = {
        "team": team,
        "membership": membership,
        "workspaces": services.workspaces_for_team(team),
    }
    return render(request, "workspaces/workspace_list.html", context)


@sensitive_post_parameters("api_key", "password")
@login_required
@require_http_methods(["GET", "POST"])
def workspace_add(request: HtmxHttpRequest, team_slug: str) -> HttpResponse:
    team = get_object_or_404(Team, slug=team_slug)
    require_role(request.user, team, Role.ADMIN)
    form = WorkspaceAddForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            workspace = services.add_workspace(
                team,
                request.user,
                name=data["name"],
                base_url=data["base_url"],
                cr_workspace_id=data["cr_workspace_id"],
                api_key=data["api_key"],
                request=request,
            )
        except services.WorkspaceError as err:
            form.add_error(err.field if err.field in form.fields else None, err.message)
        else:
            messages.success(request, f"Workspace {workspace.name} added and verified.")
            return redirect("workspaces-detail", workspace_id=workspace.pk)
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "workspaces/workspace_add.html",
        {"team": team, "form": form},
        status=status,
    )


@login_required
@require_GET
def workspace_detail(request: HtmxHttpRequest, workspace_id: int) -> HttpResponse:
    workspace, membership = workspace_for_user(request.user, workspace_id, Role.VIEWER)
    context = {
        "team": workspace.team,
        "workspace": workspace,
        "membership": membership,
        "features": workspace.feature_table(),
    }
    return render(request, "workspaces/workspace_detail.html", context)


@sensitive_post_parameters("api_key", "password")
@login_required
@require_http_methods(["GET", "POST"])
def workspace_replace_key(request: HtmxHttpRequest, workspace_id: int) -> HttpResponse:
    workspace, _ = workspace_for_user(request.user, workspace_id, Role.ADMIN)
    form = ReplaceKeyForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            services.replace_key(
                workspace,
                request.user,
                api_key=form.cleaned_data["api_key"],
                request=request,
            )
        except services.WorkspaceError as err:
            form.add_error(err.field if err.field in form.fields else None, err.message)
        else:
            messages.success(
                request, f"The key of {workspace.name} was replaced and verified."
            )
            return redirect("workspaces-detail", workspace_id=workspace.pk)
    status = 400 if request.method == "POST" else 200
    context = {"team": workspace.team, "workspace": workspace, "form": form}
    return render(
        request, "workspaces/workspace_replace_key.html", context, status=status
    )


@login_required
@require_POST
def workspace_set_enabled(request: HtmxHttpRequest, workspace_id: int) -> HttpResponse:
    workspace, _ = workspace_for_user(request.user, workspace_id, Role.ADMIN)
    enabled = request.POST.get("enabled") == "1"
    services.set_enabled(workspace, request.user, enabled=enabled, request=request)
    messages.success(
        request, f"{workspace.name} is {'enabled' if enabled else 'disabled'}."
    )
    return redirect("workspaces-detail", workspace_id=workspace.pk)


@login_required
@require_POST
def workspace_reprobe(request: HtmxHttpRequest, workspace_id: int) -> HttpResponse:
    workspace, _ = workspace_for_user(request.user, workspace_id, Role.ADMIN)
    services.reprobe(workspace, request.user, request=request)
    if workspace.last_error:
        messages.error(request, workspace.last_error)
    else:
        messages.success(request, "The key works; its permissions were re-checked.")
    return redirect("workspaces-detail", workspace_id=workspace.pk)


@login_required
@require_http_methods(["GET", "POST"])
def workspace_delete(request: HtmxHttpRequest, workspace_id: int) -> HttpResponse:
    workspace, _ = workspace_for_user(request.user, workspace_id, Role.ADMIN)
    team = workspace.team
    if request.method == "POST":
        name = workspace.name
        services.delete_workspace(workspace, request.user, request=request)
        messages.success(request, f"Workspace {name} was deleted from Workroom.")
        return redirect("workspaces-list", team_slug=team.slug)
    context = {"team": team, "workspace": workspace}
    return render(request, "workspaces/workspace_delete.html", context)
