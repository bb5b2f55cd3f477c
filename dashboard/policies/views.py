"""Retry-policy pages: every member of the team reads them; team admins write them.

Access is checked on every request (`require_role`): another team's policy is a 404, a
member below admin gets a 403 on the write pages. Every form works without JavaScript; with
HTMX the dry run and the activity list swap named partials of their page's template.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from dashboard.accounts.http import HtmxHttpRequest
from dashboard.accounts.models import Membership, Role, Team, signed_in
from dashboard.accounts.permissions import require_role, teams_for
from dashboard.audit.services import Actor
from dashboard.policies import selectors, services
from dashboard.policies.dryrun import dry_run
from dashboard.policies.forms import DryRunForm, PolicyForm
from dashboard.policies.models import RetryPolicy


def _policy(
    request: HtmxHttpRequest, policy_id: int, role: Role
) -> tuple[RetryPolicy, Membership]:
    policy = get_object_or_404(RetryPolicy.objects.select_related("team"), pk=policy_id)
    return policy, require_role(request.user, policy.team, role)


@login_required
@require_GET
def policy_list(request: HtmxHttpRequest) -> HttpResponse:
    teams = list(teams_for(request.user).order_by("name"))
    admin_of = set(
        Membership.objects.filter(
            user=signed_in(request.user), role__gte=Role.ADMIN
        ).values_list("team_id", flat=True)
    )
    groups = [
        (team, team.pk in admin_of, list(selectors.policies_of(team))) for team in teams
    ]
    return render(request, "policies/policy_list.html", {"groups": groups})


@login_required
@require_http_methods(["GET", "POST"])
def policy_new(request: HtmxHttpRequest, team_slug: str) -> HttpResponse:
    team = get_object_or_404(Team, slug=team_slug)
    require_role(request.user, team, Role.ADMIN)
    return _form_page(request, team, RetryPolicy(team=team))


@login_required
@require_http_methods(["GET", "POST"])
def policy_edit(request: HtmxHttpRequest, policy_id: int) -> HttpResponse:
    policy, _ = _policy(request, policy_id, Role.ADMIN)
    return _form_page(request, policy.team, policy)


def _form_page(
    request: HtmxHttpRequest, team: Team, policy: RetryPolicy
) -> HttpResponse:
    """GET: the form; POST "preview": the dry run of what is typed; POST: save."""
    initial = PolicyForm.initial_for(policy) if policy.pk else {}
    initial["pk"] = policy.pk
    form = PolicyForm(request.POST or None, team=team, initial=initial)
    days = DryRunForm(request.POST or None).days_value
    ctx: dict[str, Any] = {"team": team, "policy": policy, "form": form, "days": days}
    if request.method != "POST":
        return render(request, "policies/policy_form.html", ctx)
    if not form.is_valid():
        if _dry_run_swap(request):
            # 200: HTMX swaps only successful answers; the partial lists the errors.
            return render(request, "policies/policy_form.html#dry-run", ctx)
        return render(request, "policies/policy_form.html", ctx, status=400)
    changed = form.apply_to(policy)
    if "preview" in request.POST:
        ctx["dry_run"] = dry_run(policy, [w.pk for w in form.workspace_list], days)
        if _dry_run_swap(request):
            return render(request, "policies/policy_form.html#dry-run", ctx)
        return render(request, "policies/policy_form.html", ctx)
    try:
        services.save_policy(
            Actor.from_request(request),
            team,
            policy,
            form.workspace_list,
            changed=changed,
        )
    except services.PolicyRefused as err:
        form.add_error(None, err.message)
        return render(request, "policies/policy_form.html", ctx, status=400)
    messages.success(request, f"Policy {policy.name} saved.")
    return redirect("policies-detail", policy_id=policy.pk)


def _dry_run_swap(request: HtmxHttpRequest) -> bool:
    return bool(request.htmx) and "preview" in request.POST


@login_required
@require_GET
def policy_detail(request: HtmxHttpRequest, policy_id: int) -> HttpResponse:
    policy, membership = _policy(request, policy_id, Role.VIEWER)
    ctx: dict[str, Any] = {
        "team": policy.team,
        "policy": policy,
        "membership": membership,
        "workspaces": list(policy.workspaces.all()),
        "activity": selectors.activity(policy),
        "outcomes": selectors.success_counts(policy),
        "transitions": _transitions(policy) if membership.is_admin else [],
    }
    if "days" in request.GET:
        days = DryRunForm(request.GET).days_value
        ctx["days"] = days
        ctx["dry_run"] = dry_run(policy, [w.pk for w in ctx["workspaces"]], days)
        if request.htmx:
            return render(request, "policies/policy_detail.html#dry-run", ctx)
    if request.htmx and request.GET.get("part") == "activity":
        return render(request, "policies/policy_detail.html#activity", ctx)
    return render(request, "policies/policy_detail.html", ctx)


def _transitions(policy: RetryPolicy) -> list[tuple[str, str]]:
    labels = {"enable": "Enable", "pause": "Pause", "disable": "Disable"}
    if policy.state == RetryPolicy.State.BREAKER_OPEN:
        labels["enable"] = "Close the breaker and resume"
    return [
        (name, labels[name])
        for name, (sources, _target) in services.TRANSITIONS.items()
        if policy.state in sources
    ]


@login_required
@require_POST
def policy_state(request: HtmxHttpRequest, policy_id: int) -> HttpResponse:
    policy, _ = _policy(request, policy_id, Role.ADMIN)
    try:
        services.change_state(
            Actor.from_request(request), policy, request.POST.get("transition", "")
        )
    except services.PolicyRefused as err:
        messages.error(request, err.message)
    else:
        messages.success(
            request,
            f"Policy {policy.name} is now {policy.get_state_display().lower()}.",
        )
    return redirect("policies-detail", policy_id=policy.pk)
