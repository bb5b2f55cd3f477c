"""Teams, members and invitations. Members see a team; only admins manage it."""

from __future__ import annotations

from typing import Any, cast

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.db import transaction
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from dashboard.accounts import services, timezones
from dashboard.accounts.extensions import listed_members
from dashboard.accounts.forms import (
    InvitationForm,
    PreferencesForm,
    RegisterForm,
    RoleForm,
    TeamForm,
    TeamTimeZoneForm,
)
from dashboard.accounts.http import HtmxHttpRequest
from dashboard.accounts.middleware import forget_zone
from dashboard.accounts.models import Invitation, Membership, Role, Team
from dashboard.accounts.permissions import get_membership_or_404, require_role


def _team(slug: str) -> Team:
    return get_object_or_404(Team, slug=slug)


@login_required
@require_http_methods(["GET", "POST"])
def team_create(request: HtmxHttpRequest) -> HttpResponse:
    form = TeamForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        team = services.create_team(
            request.user, form.cleaned_data["name"], request=request
        )
        messages.success(request, f"Team {team.name} created. You are its admin.")
        return redirect("accounts-team-detail", team_slug=team.slug)
    return render(request, "accounts/team_create.html", {"form": form})


@login_required
@require_GET
def team_detail(request: HtmxHttpRequest, team_slug: str) -> HttpResponse:
    team = _team(team_slug)
    membership = get_membership_or_404(request.user, team)
    members = listed_members(team.memberships.select_related("user")).order_by(
        "-role", "user__username"
    )
    return render(
        request,
        "accounts/team_detail.html",
        {
            "team": team,
            "membership": membership,
            "members": members,
            "zone_form": TeamTimeZoneForm(initial={"time_zone": team.time_zone}),
        },
    )


@login_required
@require_POST
def team_time_zone(request: HtmxHttpRequest, team_slug: str) -> HttpResponse:
    team = _team(team_slug)
    require_role(request.user, team, Role.ADMIN)
    form = TeamTimeZoneForm(request.POST)
    if form.is_valid():
        services.change_team_time_zone(
            team,
            form.cleaned_data["time_zone"],
            cast(Any, request.user),
            request=request,
        )
        forget_zone(request)
        messages.success(
            request, f"Times are now shown in {team.time_zone} by default."
        )
    else:
        messages.error(request, "Choose a time zone from the list.")
    return redirect("accounts-team-detail", team_slug=team.slug)


@login_required
@require_http_methods(["GET", "POST"])
def preferences(request: HtmxHttpRequest) -> HttpResponse:
    user = cast(Any, request.user)
    own = getattr(getattr(user, "preferences", None), "time_zone", "")
    team_zone = _team_zone(user)
    form = PreferencesForm(
        request.POST or None, initial={"time_zone": own}, team_zone=team_zone
    )
    if request.method == "POST" and form.is_valid():
        timezones.set_own_zone(user, form.cleaned_data["time_zone"])
        forget_zone(request)
        shown = form.cleaned_data["time_zone"] or f"your team's time zone ({team_zone})"
        messages.success(request, f"Times are now shown in {shown}.")
        return redirect("accounts-preferences")
    return render(
        request, "accounts/preferences.html", {"form": form, "team_zone": team_zone}
    )


def _team_zone(user: Any) -> str:
    first = (
        Membership.objects.filter(user=user)
        .order_by("created_at", "id")
        .values_list("team__time_zone", flat=True)
        .first()
    )
    return first or str(settings.TIME_ZONE)


def _members_context(team: Team, membership: Membership) -> dict[str, object]:
    return {
        "team": team,
        "membership": membership,
        "members": listed_members(team.memberships.select_related("user")).order_by(
            "-role", "user__username"
        ),
        "invitations": team.invitations.filter(
            accepted_at__isnull=True, revoked_at__isnull=True
        ).select_related("created_by"),
        "invitation_form": InvitationForm(),
        "roles": Role.choices,
    }


@login_required
@require_GET
def team_members(request: HtmxHttpRequest, team_slug: str) -> HttpResponse:
    team = _team(team_slug)
    membership = require_role(request.user, team, Role.ADMIN)
    return render(
        request, "accounts/team_members.html", _members_context(team, membership)
    )


@login_required
@require_POST
def invitation_create(request: HtmxHttpRequest, team_slug: str) -> HttpResponse:
    team = _team(team_slug)
    membership = require_role(request.user, team, Role.ADMIN)
    form = InvitationForm(request.POST)
    context = _members_context(team, membership)
    if not form.is_valid():
        context["invitation_form"] = form
        return render(request, "accounts/team_members.html", context, status=400)
    invitation, token = services.create_invitation(
        team, request.user, form.cleaned_data["role"], request=request
    )
    # The link is shown on this response only; no redirect, so it never lands in a URL or session.
    context["new_invitation"] = invitation
    context["new_invitation_url"] = request.build_absolute_uri(
        reverse("accounts-invitation-accept", args=[token])
    )
    template = "accounts/team_members.html"
    if request.htmx:
        template += "#invitations"
    return render(request, template, context)


@login_required
@require_POST
def invitation_revoke(
    request: HtmxHttpRequest, team_slug: str, invitation_id: int
) -> HttpResponse:
    team = _team(team_slug)
    membership = require_role(request.user, team, Role.ADMIN)
    invitation = get_object_or_404(Invitation, pk=invitation_id, team=team)
    try:
        services.revoke_invitation(invitation, request.user, request=request)
    except services.InvitationError as err:
        messages.error(request, err.message)
    if request.htmx:
        return render(
            request,
            "accounts/team_members.html#invitations",
            _members_context(team, membership),
        )
    return redirect("accounts-team-members", team_slug=team.slug)


def _member_row(
    request: HtmxHttpRequest,
    team: Team,
    member: Membership,
    error: str = "",
    notice: str = "",
) -> HttpResponse:
    context = {
        "team": team,
        "member": member,
        "roles": Role.choices,
        "row_error": error,
        "row_notice": notice,
    }
    return render(request, "accounts/_member_row.html", context)


@login_required
@require_POST
def member_role(
    request: HtmxHttpRequest, team_slug: str, membership_id: int
) -> HttpResponse:
    team = _team(team_slug)
    require_role(request.user, team, Role.ADMIN)
    member = get_object_or_404(
        listed_members(Membership.objects.select_related("user")),
        pk=membership_id,
        team=team,
    )
    form = RoleForm(request.POST)
    error = ""
    if not form.is_valid():
        error = "Choose a valid role."
    else:
        try:
            services.change_role(
                member, form.cleaned_data["role"], request.user, request=request
            )
        except services.LastAdminError as err:
            error = err.message
            member.refresh_from_db()
    notice = (
        ""
        if error
        else f"Saved: {member.user} is now {member.get_role_display().lower()}."
    )
    if request.htmx:
        return _member_row(request, team, member, error, notice)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, notice)
    return redirect("accounts-team-members", team_slug=team.slug)


@login_required
@require_POST
def member_remove(
    request: HtmxHttpRequest, team_slug: str, membership_id: int
) -> HttpResponse:
    team = _team(team_slug)
    require_role(request.user, team, Role.ADMIN)
    member = get_object_or_404(
        listed_members(Membership.objects.select_related("user")),
        pk=membership_id,
        team=team,
    )
    removed_self = member.user_id == request.user.pk
    try:
        services.remove_member(member, request.user, request=request)
    except services.LastAdminError as err:
        if request.htmx:
            return _member_row(request, team, member, err.message)
        messages.error(request, err.message)
        return redirect("accounts-team-members", team_slug=team.slug)
    if removed_self:
        messages.success(request, f"You left {team.name}.")
        return redirect("home")
    if request.htmx:
        return HttpResponse("")
    messages.success(request, f"{member.user} was removed from the team.")
    return redirect("accounts-team-members", team_slug=team.slug)


@sensitive_post_parameters("register-password1", "register-password2")
@require_http_methods(["GET", "POST"])
def invitation_accept(request: HtmxHttpRequest, token: str) -> HttpResponse:
    """Show an invitation; accept it as the logged-in user, or register and accept."""
    invitation = services.find_invitation(token)
    if invitation is None:
        raise Http404("This invitation link is not valid.")
    problem = services.invitation_problem(invitation, request.user)
    register_form = RegisterForm(prefix="register")
    if request.method == "POST" and not problem:
        if (
            not request.user.is_authenticated
            and request.POST.get("action") != "register"
        ):
            return redirect_to_login(request.get_full_path(), settings.LOGIN_URL)
        if not request.user.is_authenticated:
            register_form = RegisterForm(request.POST, prefix="register")
        if request.user.is_authenticated or register_form.is_valid():
            try:
                return _accept(request, invitation, register_form)
            except services.InvitationError as err:
                problem = err.message
    context = {
        "invitation": invitation,
        "problem": problem,
        "register_form": register_form,
    }
    status = 400 if request.method == "POST" else 200
    return render(request, "accounts/invitation_accept.html", context, status=status)


def _accept(
    request: HtmxHttpRequest,
    invitation: Invitation,
    register_form: RegisterForm,
) -> HttpResponse:
    with transaction.atomic():
        user = request.user if request.user.is_authenticated else register_form.save()
        membership = services.accept_invitation(invitation, user, request=request)
    if not request.user.is_authenticated:
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    messages.success(
        request,
        f"Welcome to {membership.team.name}: you are {membership.get_role_display().lower()}.",
    )
    return redirect("accounts-team-detail", team_slug=membership.team.slug)
