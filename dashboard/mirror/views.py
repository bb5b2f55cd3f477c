"""Mirror pages: the workspace overview with its sync status, Sync now, webhooks, and the
webhook receiver Control Room posts to."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseStopPolling

from dashboard.accounts.http import HtmxHttpRequest
from dashboard.accounts.models import Role
from dashboard.mirror import selectors
from dashboard.mirror.models import SyncRun
from dashboard.mirror.services import check, webhooks
from dashboard.mirror.services.syncruns import sync_request
from dashboard.workspaces.access import workspace_for_user
from dashboard.workspaces.models import Workspace


@login_required
@require_GET
def workspace_overview(request: HtmxHttpRequest, workspace_id: int) -> HttpResponse:
    workspace, membership = workspace_for_user(request.user, workspace_id, Role.VIEWER)
    overview = selectors.workspace_overview(workspace)
    context = {
        "workspace": workspace,
        "team": workspace.team,
        "membership": membership,
        "overview": overview,
        "can_webhooks": workspace.allows("webhooks"),
    }
    latest = context["check"] = check.latest_check(workspace)
    if request.htmx.target == "mirror-check":
        response = render(
            request, "mirror/workspace_overview.html#mirror-check", context
        )
        active = latest is not None and latest.is_active
        return response if active else HttpResponseStopPolling(response.content)
    if request.htmx.target == "sync-status":
        response = render(
            request, "mirror/workspace_overview.html#sync-status", context
        )
        if not overview.is_syncing:
            # 286 swaps the final status in and tells htmx to stop polling.
            stop = HttpResponseStopPolling(response.content)
            return stop
        return response
    return render(request, "mirror/workspace_overview.html", context)


@login_required
@require_POST
def sync_now(request: HtmxHttpRequest, workspace_id: int) -> HttpResponse:
    workspace, _ = workspace_for_user(request.user, workspace_id, Role.OPERATOR)
    if not workspace.enabled:
        messages.error(request, "This workspace is disabled; enable it before syncing.")
    else:
        sync_run = sync_request(
            workspace=workspace,
            trigger=SyncRun.Trigger.MANUAL,
            requested_by=request.user,
        )
        if (
            sync_run.trigger == SyncRun.Trigger.MANUAL
            and sync_run.requested_by_id == request.user.pk
        ):
            messages.success(request, "Sync queued.")
        else:
            messages.info(
                request, "A sync of this workspace is already queued or running."
            )
    return redirect("mirror-workspace-overview", workspace_id=workspace.pk)


@login_required
@require_POST
def mirror_check_start(request: HtmxHttpRequest, workspace_id: int) -> HttpResponse:
    workspace, _ = workspace_for_user(request.user, workspace_id, Role.OPERATOR)
    queued = check.check_request(workspace, request.user)
    if queued.requested_by_id == request.user.pk and queued.status == "queued":
        messages.success(request, "Check queued: a worker compares every item.")
    else:
        messages.info(request, "A check of this workspace is already running.")
    url = reverse("mirror-workspace-overview", kwargs={"workspace_id": workspace.pk})
    return redirect(f"{url}#mirror-check")


def _receiver_url(request: HttpRequest, workspace: Workspace) -> str:
    path = reverse("mirror-webhook-receive", kwargs={"workspace_uid": workspace.uid})
    public = settings.WORKROOM_PUBLIC_URL
    return f"{public.rstrip('/')}{path}" if public else request.build_absolute_uri(path)


@login_required
@require_POST
def webhooks_register(request: HtmxHttpRequest, workspace_id: int) -> HttpResponse:
    workspace, _ = workspace_for_user(request.user, workspace_id, Role.ADMIN)
    try:
        created = webhooks.webhooks_register(
            workspace,
            request.user,
            endpoint=_receiver_url(request, workspace),
            request=request,
        )
    except webhooks.WebhookError as err:
        messages.error(request, err.message)
    else:
        if created:
            messages.success(
                request, f"Registered {len(created)} webhook(s) in Control Room."
            )
        else:
            messages.info(request, "Every process already has Workroom's webhook.")
    return redirect("mirror-workspace-overview", workspace_id=workspace.pk)


@login_required
@require_POST
def webhooks_unregister(request: HtmxHttpRequest, workspace_id: int) -> HttpResponse:
    workspace, _ = workspace_for_user(request.user, workspace_id, Role.ADMIN)
    try:
        removed = webhooks.webhooks_unregister(workspace, request.user, request=request)
    except webhooks.WebhookError as err:
        messages.error(request, err.message)
    else:
        messages.success(request, f"Removed {removed} webhook(s) from Control Room.")
    return redirect("mirror-workspace-overview", workspace_id=workspace.pk)


@csrf_exempt
@require_POST
def webhook_receive(request: HttpRequest, workspace_uid: uuid.UUID) -> JsonResponse:
    """Control Room's deliveries: no login, authenticated by the body's HMAC signature."""
    try:
        received = webhooks.webhook_receive(
            workspace_uid=str(workspace_uid),
            body=request.body,
            signature=request.headers.get("x-rc-signature", ""),
        )
    except webhooks.WebhookRejected as err:
        return JsonResponse({"error": err.message}, status=err.status)
    if received.duplicate:
        return JsonResponse({"status": "duplicate"}, status=200)
    return JsonResponse({"status": "accepted"}, status=202)
