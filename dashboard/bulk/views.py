"""Pages of bulk operations: start (from a filter or ticked rows), preview, confirm, progress,
results, cancel, and the list of operations.

Access: an operation acts in one team and is visible to that team's members only (its creator
too loses it on leaving the team; another team's operation is a 404); a draft is its creator's;
confirming (the creator) and cancelling need the operator role, checked again on every request.
Every POST also works without JavaScript (it redirects).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import (
    HttpResponseClientRedirect,
    HttpResponseStopPolling,
    trigger_client_event,
)

from dashboard.accounts.http import HtmxHttpRequest
from dashboard.accounts.models import Membership, Role, Team
from dashboard.accounts.permissions import get_membership_or_404, require_role
from dashboard.audit.services import Actor
from dashboard.bulk import approval, drafts, execution, selectors
from dashboard.bulk.forms import ApprovalPolicyForm, ConfirmForm, StartForm
from dashboard.bulk.models import Action, BulkOperation
from dashboard.workitems.filtering import filter_only
from dashboard.workitems.selectors import Scope
from dashboard.workitems.undo import window_seconds

RESULTS_PAGE_SIZE = 100


def _redirect(request: HtmxHttpRequest, url: str) -> HttpResponse:
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return redirect(url)


@login_required
@require_http_methods(["GET", "POST"])
def operation_new(request: HtmxHttpRequest) -> HttpResponse:
    """GET: what "all matching this filter" would select; POST: freeze it as a preview."""
    teams = _teams(request)
    if request.method == "POST":
        form = StartForm(request.POST, teams=teams)
        if form.is_valid():
            try:
                op = drafts.create_draft(
                    request.user,
                    action=form.cleaned_data["action"],
                    filter_query=form.cleaned_data["filter"],
                    ids=drafts.parse_ids(request.POST.getlist("ids"))
                    if form.cleaned_data["selection"] == "ids"
                    else None,
                    team_id=form.cleaned_data["team"],
                    patch=form.cleaned_data["patch_value"],
                    patch_kind=form.cleaned_data["patch_kind"] or "",
                )
            except drafts.SelectionError as err:
                form.add_error(None, err.message)
            else:
                return _redirect(request, reverse("bulk-detail", args=[op.pk]))
        return _new_page(request, form, form.data.get("filter", ""), status=400)
    query = filter_only(request.GET.urlencode())
    action = request.GET.get("action", Action.RETRY)
    form = StartForm(
        teams=teams,
        initial={
            "action": action if action in Action.values else Action.RETRY,
            "filter": query,
            "selection": "filter",
        },
    )
    return _new_page(request, form, query)


def _teams(request: HttpRequest) -> list[Team]:
    """The teams the user may start an operation in (any role: a viewer's preview says why
    nothing is eligible)."""
    if not request.user.is_authenticated:
        return []
    return list(Team.objects.filter(memberships__user=request.user).order_by("name"))


def _new_page(
    request: HttpRequest, form: StartForm, query: str, *, status: int = 200
) -> HttpResponse:
    scope = Scope.for_user(request.user)
    counts: dict[str, int] = {}
    problem = ""
    try:
        items = drafts.selected_items(scope, filter_query=query)
        counts = dict(items.values_list("state").annotate(n=Count("id")).order_by())
    except drafts.SelectionError as err:
        problem = err.message
    ctx = {
        "form": form,
        "query": query,
        "counts": sorted(counts.items()),
        "total": sum(counts.values()),
        "failed": counts.get("failed", 0),
        "problem": problem,
        "ids": request.POST.getlist("ids")[: drafts.MAX_EXPLICIT_IDS]
        if request.method == "POST"
        else [],
    }
    return render(request, "bulk/operation_new.html", ctx, status=status)


@login_required
@require_GET
def operation_detail(request: HtmxHttpRequest, op_id: int) -> HttpResponse:
    op = selectors.operation_for(request.user, op_id)
    if op.state == BulkOperation.State.DRAFT:
        return render(
            request,
            "bulk/operation_preview.html",
            _preview_context(request, op, ConfirmForm()),
        )
    return render(request, "bulk/operation_detail.html", _detail_context(request, op))


def _preview_context(
    request: HttpRequest, op: BulkOperation, form: ConfirmForm
) -> dict[str, Any]:
    """The preview page; `refusal` replaces the confirm form when it cannot be confirmed."""
    refusal = selectors.act_refusal(request.user, op)
    if drafts.is_expired(op):
        refusal = drafts.expired_message(op)
    return {
        "op": op,
        "breakdown": drafts.breakdown(op),
        "form": form,
        "drift": drafts.drift(op, request.user),
        "refusal": refusal,
        "expires_at": drafts.expires_at(op),
        "verified": drafts.verified_count(op),
        "patch_diffs": drafts.patch_preview(op),
        "undo_seconds": window_seconds(),
    }


def _detail_context(request: HttpRequest, op: BulkOperation) -> dict[str, Any]:
    state = request.GET.get("state", "")
    page = Paginator(selectors.results(op, state), RESULTS_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return {
        "op": op,
        "note": selectors.status_note(op),
        "page": page,
        "result_state": state if state in selectors.RESULT_STATES else "",
        "result_states": selectors.RESULT_STATES,
        "can_cancel": op.is_active
        and op.cancel_requested_at is None
        and not selectors.act_refusal(request.user, op),
        "in_undo_window": selectors.undo_window_ends(op) is not None,
        **_approval_context(request, op),
    }


def _approval_context(request: HttpRequest, op: BulkOperation) -> dict[str, Any]:
    if op.state != BulkOperation.State.AWAITING_APPROVAL:
        return {}
    may_act = not selectors.act_refusal(request.user, op)
    return {
        "approval_threshold": approval.threshold(op.team_ids[0]) if op.team_ids else 0,
        "can_approve": may_act and op.created_by_id != request.user.pk,
        "can_reject": may_act,
    }


@login_required
@require_POST
def operation_approve(request: HtmxHttpRequest, op_id: int) -> HttpResponse:
    op = selectors.operation_for(request.user, op_id, act=True)
    try:
        approval.approve(op, request.user, Actor.from_request(request))
        messages.success(request, "Approved: the operation starts.")
    except approval.ApprovalError as err:
        messages.error(request, err.message)
    return _redirect(request, reverse("bulk-detail", args=[op.pk]))


@login_required
@require_POST
def operation_reject(request: HtmxHttpRequest, op_id: int) -> HttpResponse:
    op = selectors.operation_for(request.user, op_id, act=True)
    try:
        approval.reject(op, request.user, Actor.from_request(request))
        messages.success(request, "Not approved: nothing was sent; its items are free.")
    except approval.ApprovalError as err:
        messages.error(request, err.message)
    return _redirect(request, reverse("bulk-detail", args=[op.pk]))


@login_required
@require_http_methods(["GET", "POST"])
def approval_policy(request: HttpRequest, team_slug: str) -> HttpResponse:
    """A team admin sets above how many items a bulk mark done / delete needs approval."""
    team = get_object_or_404(Team, slug=team_slug)
    if request.method == "POST":
        require_role(request.user, team, Role.ADMIN)
        form = ApprovalPolicyForm(request.POST)
        if form.is_valid():
            approval.set_threshold(
                team, form.cleaned_data["threshold"], Actor.from_request(request)
            )
            messages.success(request, "Saved.")
            return redirect("bulk-approval-policy", team_slug=team.slug)
        status = 400
    else:
        get_membership_or_404(request.user, team)
        form = ApprovalPolicyForm(initial={"threshold": approval.threshold(team.pk)})
        status = 200
    return render(
        request,
        "bulk/approval_policy.html",
        {
            "team": team,
            "form": form,
            "is_admin": request.user.is_authenticated
            and Membership.objects.filter(
                team=team, user=request.user, role__gte=Role.ADMIN
            ).exists(),
        },
        status=status,
    )


@login_required
@require_POST
def operation_confirm(request: HtmxHttpRequest, op_id: int) -> HttpResponse:
    op = selectors.operation_for(request.user, op_id, act=True)
    form = ConfirmForm(request.POST)
    if form.is_valid():
        try:
            drafts.confirm(
                op,
                request.user,
                reason=form.cleaned_data["reason"],
                actor=Actor.from_request(request),
                include_verified=form.cleaned_data["include_verified"],
            )
        except drafts.SelectionError as err:
            form.add_error(None, err.message)
        else:
            return _redirect(request, reverse("bulk-detail", args=[op.pk]))
    return render(
        request,
        "bulk/operation_preview.html",
        _preview_context(request, op, form),
        status=400,
    )


@login_required
@require_GET
def operation_progress(request: HtmxHttpRequest, op_id: int) -> HttpResponse:
    """The #progress partial, polled every second; 286 stops the polling once it ended."""
    op = selectors.operation_for(request.user, op_id)
    ctx = _detail_context(request, op)
    response = render(request, "bulk/operation_detail.html#progress", ctx)
    if op.is_terminal or op.state == BulkOperation.State.DRAFT:
        stop = HttpResponseStopPolling(response.content)
        return trigger_client_event(stop, "bulkFinished")
    return response


@login_required
@require_GET
def operation_items(request: HtmxHttpRequest, op_id: int) -> HttpResponse:
    op = selectors.operation_for(request.user, op_id)
    ctx = _detail_context(request, op)
    template = "bulk/operation_detail.html"
    if request.htmx and not request.htmx.boosted:
        template += "#results"
    return render(request, template, ctx)


@login_required
@require_POST
def operation_cancel(request: HtmxHttpRequest, op_id: int) -> HttpResponse:
    op = selectors.operation_for(request.user, op_id, act=True)
    if not op.is_active:
        messages.info(request, "This operation has already ended.")
    else:
        n = execution.cancel(op, request.user)
        messages.success(
            request,
            f"Cancel requested: {n} chunk{'s' if n != 1 else ''} not started will not run.",
        )
    return _redirect(request, reverse("bulk-detail", args=[op.pk]))


@login_required
@require_POST
def operation_discard(request: HtmxHttpRequest, op_id: int) -> HttpResponse:
    op = selectors.operation_for(request.user, op_id, act=True)
    if drafts.discard(op):
        messages.success(request, "Preview discarded: nothing was sent.")
        return _redirect(request, reverse("bulk-list"))
    messages.info(request, "This preview was already confirmed; it was not discarded.")
    return _redirect(request, reverse("bulk-detail", args=[op.pk]))


@login_required
@require_GET
def operation_list(request: HttpRequest) -> HttpResponse:
    ops = selectors.operations_for(request.user).order_by("-created_at", "-id")
    page = Paginator(ops, 50).get_page(request.GET.get("page"))
    return render(
        request, "bulk/operation_list.html", {"page": page, "teams": _teams(request)}
    )
