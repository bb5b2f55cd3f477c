"""Workers (every member), worker groups and link tokens, task packages and assets (admins).

Views stay thin: the role check (`workspace_for_user`), a form, a call into `services`, a page.
Control Room errors come back as a sentence shown in the page (status 400), never a 5xx.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from dashboard.accounts.http import HtmxHttpRequest
from dashboard.accounts.models import Membership, Role
from dashboard.audit.services import Actor
from dashboard.fleet import selectors, services
from dashboard.fleet.forms import (
    AssetFileForm,
    AssetJsonForm,
    LinkTokenForm,
    NameForm,
    PackageForm,
)
from dashboard.fleet.models import TaskPackage
from dashboard.mirror.selectors import no_worker_warnings
from dashboard.workspaces.access import workspace_for_user
from dashboard.workspaces.models import Workspace

# Control Room refused or could not be reached: the page with the message, as a 400 (like a
# refused run stop); never a 5xx, which the no-5xx suites reserve for Workroom's own bugs.
FAILED = 400


# --- workers ----------------------------------------------------------------------------------


def _workers_page(
    request: HtmxHttpRequest, workspaces: list[Workspace], scope: Workspace | None
) -> HttpResponse:
    context = {
        "scope": scope,
        "is_admin": scope is not None
        and Membership.objects.filter(
            user_id=request.user.pk or 0, team_id=scope.team_id, role__gte=Role.ADMIN
        ).exists(),
        "rows": selectors.worker_rows(workspaces),
        "changes": selectors.recent_state_changes(workspaces),
        "warnings": no_worker_warnings(workspaces),
        "unreadable": [
            (w, w.why_not("workers")) for w in workspaces if w.why_not("workers")
        ],
    }
    return render(request, "fleet/workers.html", context)


@login_required
@require_GET
def workers_all(request: HtmxHttpRequest) -> HttpResponse:
    return _workers_page(
        request, list(selectors.visible_workspaces(request.user)), None
    )


@login_required
@require_GET
def workers_workspace(request: HtmxHttpRequest, workspace_id: int) -> HttpResponse:
    workspace, _ = workspace_for_user(request.user, workspace_id, Role.VIEWER)
    return _workers_page(request, [workspace], workspace)


@login_required
@require_POST
def workers_refresh(request: HtmxHttpRequest, workspace_id: int) -> HttpResponse:
    workspace, _ = workspace_for_user(request.user, workspace_id, Role.VIEWER)
    error = services.refresh_workers(workspace)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, "Workers read from Control Room just now.")
    return redirect("fleet-workspace-workers", workspace.pk)


@login_required
@require_POST
def worker_change(
    request: HtmxHttpRequest, workspace_id: int, worker_id: str
) -> HttpResponse:
    """Rename (`action=rename`, `name`) or remove (`action=delete`) a worker (admins)."""
    workspace, _ = workspace_for_user(request.user, workspace_id, Role.ADMIN)
    action, actor = request.POST.get("action", ""), Actor.from_request(request)
    form = NameForm(request.POST)
    try:
        if action == "delete":
            services.delete_worker(workspace, worker_id, actor)
        elif action == "rename" and form.is_valid():
            services.rename_worker(
                workspace, worker_id, form.cleaned_data["name"], actor
            )
        else:
            messages.error(request, "Give the worker a name (1 to 255 characters).")
            return redirect("fleet-workspace-workers", workspace.pk)
    except services.FleetActionFailed as err:
        messages.error(request, err.message)
    else:
        messages.success(request, "Worker changed.")
    return redirect("fleet-workspace-workers", workspace.pk)


# --- worker groups and link tokens -----------------------------------------------------------


def _groups_page(
    request: HtmxHttpRequest,
    workspace: Workspace,
    *,
    error: str = "",
    secret: str = "",
    secret_name: str = "",
    status: int = 200,
    **forms: Any,
) -> HttpResponse:
    groups: list[services.GroupView] = []
    load_error = ""
    try:
        groups = services.list_groups(workspace)
    except services.FleetActionFailed as err:
        load_error = err.message
    context = {
        "workspace": workspace,
        "groups": groups,
        "load_error": load_error,
        "error": error,
        "secret": secret,
        "secret_name": secret_name,
        "group_form": forms.get("group_form") or NameForm(prefix="group"),
        "token_form": forms.get("token_form") or LinkTokenForm(prefix="token"),
        "blocked": workspace.why_not("manage_workers"),
        "workers": selectors.workers_of(workspace),
    }
    return render(request, "fleet/groups.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def groups(request: HtmxHttpRequest, workspace_id: int) -> HttpResponse:
    workspace, _ = workspace_for_user(request.user, workspace_id, Role.ADMIN)
    if request.method == "GET":
        return _groups_page(request, workspace)
    form = NameForm(request.POST, prefix="group")
    if not form.is_valid():
        return _groups_page(request, workspace, group_form=form, status=400)
    try:
        services.create_group(
            workspace, form.cleaned_data["name"], Actor.from_request(request)
        )
    except services.FleetActionFailed as err:
        return _groups_page(
            request, workspace, error=err.message, group_form=form, status=FAILED
        )
    messages.success(request, f"Worker group {form.cleaned_data['name']!r} created.")
    return redirect("fleet-groups", workspace.pk)


@login_required
@require_POST
def group_delete(
    request: HtmxHttpRequest, workspace_id: int, group_id: str
) -> HttpResponse:
    workspace, _ = workspace_for_user(request.user, workspace_id, Role.ADMIN)
    try:
        services.delete_group(workspace, group_id, Actor.from_request(request))
    except services.FleetActionFailed as err:
        return _groups_page(request, workspace, error=err.message, status=FAILED)
    messages.success(request, "Worker group deleted.")
    return redirect("fleet-groups", workspace.pk)


@login_required
@require_POST
def group_rename(
    request: HtmxHttpRequest, workspace_id: int, group_id: str
) -> HttpResponse:
    workspace, _ = workspace_for_user(request.user, workspace_id, Role.ADMIN)
    form = NameForm(request.POST, prefix="rename")
    if not form.is_valid():
        return _groups_page(
            request, workspace, error="A group needs a name.", status=400
        )
    try:
        services.rename_group(
            workspace, group_id, form.cleaned_data["name"], Actor.from_request(request)
        )
    except services.FleetActionFailed as err:
        return _groups_page(request, workspace, error=err.message, status=FAILED)
    messages.success(request, "Worker group renamed.")
    return redirect("fleet-groups", workspace.pk)


@login_required
@require_POST
def workspace_token_create(request: HtmxHttpRequest, workspace_id: int) -> HttpResponse:
    """A workspace link token (links a worker in no group); its secret shown on this answer."""
    workspace, _ = workspace_for_user(request.user, workspace_id, Role.ADMIN)
    form = LinkTokenForm(request.POST, prefix="wstoken")
    expires_at = form.expires_at() if form.is_valid() else None
    if expires_at is None:
        return _groups_page(
            request,
            workspace,
            error="A workspace link token needs an expiry (1, 7 or 30 days).",
            status=400,
        )
    try:
        secret = services.create_workspace_link_token(
            workspace, expires_at, Actor.from_request(request)
        )
    except services.FleetActionFailed as err:
        return _groups_page(request, workspace, error=err.message, status=FAILED)
    return _groups_page(
        request, workspace, secret=secret, secret_name=form.cleaned_data["name"]
    )


@login_required
@require_POST
def group_membership(
    request: HtmxHttpRequest, workspace_id: int, group_id: str
) -> HttpResponse:
    """Add (`action=add`) or remove (`action=remove`) the worker `worker` (an external id)."""
    workspace, _ = workspace_for_user(request.user, workspace_id, Role.ADMIN)
    worker_id = request.POST.get("worker", "")
    action = request.POST.get("action", "")
    if not worker_id or action not in ("add", "remove"):
        return _groups_page(
            request, workspace, error="Choose a worker to add or remove.", status=400
        )
    try:
        services.set_membership(
            workspace,
            group_id,
            worker_id,
            member=action == "add",
            actor=Actor.from_request(request),
        )
    except services.FleetActionFailed as err:
        return _groups_page(request, workspace, error=err.message, status=FAILED)
    messages.success(request, "Worker group membership changed.")
    return redirect("fleet-groups", workspace.pk)


@login_required
@require_POST
def token_create(
    request: HtmxHttpRequest, workspace_id: int, group_id: str
) -> HttpResponse:
    workspace, _ = workspace_for_user(request.user, workspace_id, Role.ADMIN)
    form = LinkTokenForm(request.POST, prefix="token")
    if not form.is_valid():
        return _groups_page(request, workspace, token_form=form, status=400)
    try:
        secret = services.create_link_token(
            workspace,
            group_id,
            name=form.cleaned_data["name"],
            expires_at=form.expires_at(),
            actor=Actor.from_request(request),
        )
    except services.FleetActionFailed as err:
        return _groups_page(
            request, workspace, error=err.message, token_form=form, status=FAILED
        )
    # Rendered, not redirected: the secret is shown on this one answer and stored nowhere.
    return _groups_page(
        request, workspace, secret=secret, secret_name=form.cleaned_data["name"]
    )


@login_required
@require_POST
def token_update(
    request: HtmxHttpRequest, workspace_id: int, group_id: str, token_id: str
) -> HttpResponse:
    """Rename a link token or set a new expiry counted from now."""
    workspace, _ = workspace_for_user(request.user, workspace_id, Role.ADMIN)
    form = LinkTokenForm(request.POST, prefix="edit")
    if not form.is_valid():
        return _groups_page(
            request,
            workspace,
            error="A link token needs a name and an expiry.",
            status=400,
        )
    try:
        services.update_link_token(
            workspace,
            group_id,
            token_id,
            name=form.cleaned_data["name"],
            expires_at=form.expires_at(),
            actor=Actor.from_request(request),
        )
    except services.FleetActionFailed as err:
        return _groups_page(request, workspace, error=err.message, status=FAILED)
    messages.success(request, "Link token changed.")
    return redirect("fleet-groups", workspace.pk)


@login_required
@require_POST
def token_delete(
    request: HtmxHttpRequest, workspace_id: int, group_id: str, token_id: str
) -> HttpResponse:
    workspace, _ = workspace_for_user(request.user, workspace_id, Role.ADMIN)
    try:
        services.delete_link_token(
            workspace, group_id, token_id, Actor.from_request(request)
        )
    except services.FleetActionFailed as err:
        return _groups_page(request, workspace, error=err.message, status=FAILED)
    messages.success(request, "Link token revoked.")
    return redirect("fleet-groups", workspace.pk)


# --- task packages ----------------------------------------------------------------------------


def _packages_page(
    request: HtmxHttpRequest,
    workspace: Workspace,
    form: PackageForm | None = None,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    context = {
        "workspace": workspace,
        "packages": TaskPackage.objects.filter(workspace=workspace),
        "form": form or PackageForm(),
        "error": error,
        "blocked": workspace.why_not("task_packages"),
    }
    return render(request, "fleet/packages.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def packages(request: HtmxHttpRequest, workspace_id: int) -> HttpResponse:
    workspace, _ = workspace_for_user(request.user, workspace_id, Role.ADMIN)
    if request.method == "GET":
        return _packages_page(request, workspace)
    form = PackageForm(request.POST, request.FILES)
    if not form.is_valid():
        return _packages_page(request, workspace, form, status=400)
    try:
        package = services.upload_package(
            workspace,
            form.cleaned_data["name"],
            form.cleaned_data["bundle"],
            Actor.from_request(request),
        )
    except services.FleetActionFailed as err:
        return _packages_page(request, workspace, form, err.message, status=FAILED)
    messages.success(request, f"Task package {package.name!r} uploaded.")
    return redirect("fleet-packages", workspace.pk)


def _package(workspace: Workspace, package_id: int) -> TaskPackage:
    return get_object_or_404(TaskPackage, workspace=workspace, pk=package_id)


@login_required
@require_GET
def package_download(
    request: HtmxHttpRequest, workspace_id: int, package_id: int
) -> HttpResponseBase:
    workspace, _ = workspace_for_user(request.user, workspace_id, Role.ADMIN)
    package = _package(workspace, package_id)
    try:
        chunks = services.stream_package(workspace, package)
    except services.FleetActionFailed as err:
        return _packages_page(request, workspace, error=err.message, status=FAILED)
    response = StreamingHttpResponse(chunks, content_type="application/zip")
    filename = "".join(c if c.isalnum() or c in "-_." else "_" for c in package.name)
    response["Content-Disposition"] = (
        f'attachment; filename="{filename or "package"}.zip"'
    )
    return response


@login_required
@require_POST
def package_delete(
    request: HtmxHttpRequest, workspace_id: int, package_id: int
) -> HttpResponse:
    workspace, _ = workspace_for_user(request.user, workspace_id, Role.ADMIN)
    package = _package(workspace, package_id)
    try:
        services.delete_package(workspace, package, Actor.from_request(request))
    except services.FleetActionFailed as err:
        return _packages_page(request, workspace, error=err.message, status=FAILED)
    messages.success(request, "Task package deleted.")
    return redirect("fleet-packages", workspace.pk)


# --- assets -----------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def assets(request: HtmxHttpRequest, workspace_id: int) -> HttpResponse:
    workspace, membership = workspace_for_user(request.user, workspace_id, Role.VIEWER)
    form = NameForm(request.POST or None, prefix="asset")
    error, status = "", 200
    if request.method == "POST":
        workspace, membership = workspace_for_user(
            request.user, workspace_id, Role.ADMIN
        )
        if form.is_valid():
            try:
                asset = services.create_asset(
                    workspace, form.cleaned_data["name"], Actor.from_request(request)
                )
            except services.FleetActionFailed as err:
                error, status = err.message, FAILED
            else:
                return redirect("fleet-asset", workspace.pk, asset.id)
        else:
            status = 400
    rows: list[Any] = []
    load_error = ""
    try:
        rows = services.list_assets(workspace)
    except services.FleetActionFailed as err:
        load_error = err.message
    context = {
        "workspace": workspace,
        "membership": membership,
        "assets": rows,
        "form": form,
        "error": error,
        "load_error": load_error,
        "blocked": workspace.why_not("manage_assets"),
    }
    return render(request, "fleet/assets.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def asset_detail(
    request: HtmxHttpRequest, workspace_id: int, asset_id: str
) -> HttpResponse:
    workspace, _ = workspace_for_user(request.user, workspace_id, Role.ADMIN)
    json_form = AssetJsonForm(prefix="edit")
    file_form = AssetFileForm(prefix="file")
    error, status = "", 200
    if request.method == "POST":
        json_form, file_form, error, status = _save_asset(request, workspace, asset_id)
        if status == 200:
            messages.success(request, "Asset saved.")
            return redirect("fleet-asset", workspace.pk, asset_id)
    content = None
    try:
        content = services.read_asset(workspace, asset_id)
    except services.FleetActionFailed as err:
        if err.not_found:
            raise Http404(err.message) from None
        error = error or err.message
        status = FAILED if status == 200 else status
    if content is not None and request.method == "GET":
        text = content.text
        json_form = AssetJsonForm(
            prefix="edit",
            initial={
                "content": text or "",
                "content_type": "application/json" if content.is_json else "text/plain",
            },
        )
    context = {
        "workspace": workspace,
        "asset_id": asset_id,
        "content": content,
        "json_form": json_form,
        "file_form": file_form,
        "error": error,
        "blocked": workspace.why_not("manage_assets"),
    }
    return render(request, "fleet/asset_detail.html", context, status=status)


def _save_asset(
    request: HtmxHttpRequest, workspace: Workspace, asset_id: str
) -> tuple[AssetJsonForm, AssetFileForm, str, int]:
    """Save what the POST carries: edited text (JSON validated) or an uploaded file."""
    actor = Actor.from_request(request)
    json_form = AssetJsonForm(prefix="edit")
    file_form = AssetFileForm(prefix="file")
    try:
        if "file-file" in request.FILES:
            file_form = AssetFileForm(request.POST, request.FILES, prefix="file")
            if not file_form.is_valid():
                return json_form, file_form, "", 400
            upload = file_form.cleaned_data["file"]
            if upload.size > services.MAX_ASSET_BYTES:
                return json_form, file_form, "The file is too large.", 400
            content_type = upload.content_type or "application/octet-stream"
            services.save_asset(
                workspace, asset_id, upload.read(), content_type, actor, how="file"
            )
            return json_form, file_form, "", 200
        json_form = AssetJsonForm(request.POST, prefix="edit")
        if not json_form.is_valid():
            return json_form, file_form, "", 400
        text = json_form.cleaned_data["content"]
        content_type = json_form.cleaned_data["content_type"]
        data = (
            services.parse_json_text(text)
            if content_type == "application/json"
            else text.encode()
        )
        services.save_asset(workspace, asset_id, data, content_type, actor, how="edit")
    except services.FleetActionFailed as err:
        return json_form, file_form, err.message, 400
    return json_form, file_form, "", 200


@login_required
@require_POST
def asset_delete(
    request: HtmxHttpRequest, workspace_id: int, asset_id: str
) -> HttpResponse:
    workspace, _ = workspace_for_user(request.user, workspace_id, Role.ADMIN)
    try:
        services.delete_asset(workspace, asset_id, Actor.from_request(request))
    except services.FleetActionFailed as err:
        messages.error(request, err.message)
        return redirect("fleet-asset", workspace.pk, asset_id)
    messages.success(request, "Asset deleted.")
    return redirect("fleet-assets", workspace.pk)
