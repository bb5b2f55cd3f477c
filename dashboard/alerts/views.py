"""Alert pages: a team's rules and open alerts, rule form and detail (recent activity, mute),
channels and the digest settings (admins), alert history, the user's preferences.

Access: members read; operators may mute; admins write rules and channels (checked again by
the `config` service). Another team's rule or channel is a 404. Every POST works without
JavaScript (it redirects); HTMX swaps the named partial of the page's own template.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from dashboard.accounts.http import HtmxHttpRequest
from dashboard.accounts.models import Membership, Role, Team
from dashboard.accounts.permissions import get_membership_or_404, require_role
from dashboard.alerts import config
from dashboard.alerts.forms import (
    ChannelForm,
    DigestSettingsForm,
    MuteForm,
    PreferenceForm,
    RuleForm,
)
from dashboard.alerts.models import Alert, AlertEvent, Channel, DigestSettings, Rule
from dashboard.audit.services import Actor

HISTORY_PAGE_SIZE = 50


def _team(slug: str) -> Team:
    return get_object_or_404(Team, slug=slug)


def _rule(
    request: HtmxHttpRequest, rule_id: int, role: Role
) -> tuple[Rule, Membership]:
    rule = (
        Rule.objects.select_related("team", "workspace", "saved_view")
        .filter(pk=rule_id)
        .first()
    )
    if rule is None:
        raise Http404("No such rule.")
    return rule, require_role(request.user, rule.team, role)


def _channel(request: HtmxHttpRequest, channel_id: int) -> Channel:
    channel = Channel.objects.select_related("team").filter(pk=channel_id).first()
    if channel is None:
        raise Http404("No such channel.")
    require_role(request.user, channel.team, Role.ADMIN)
    return channel


@login_required
@require_GET
def alerts_home(request: HtmxHttpRequest) -> HttpResponse:
    """The user's teams with their open alerts; one team goes straight to its page."""
    assert request.user.is_authenticated
    memberships = list(
        Membership.objects.filter(user=request.user).select_related("team")
    )
    if len(memberships) == 1:
        return redirect("alerts-rule-list", memberships[0].team.slug)
    open_counts = dict(
        Alert.objects.filter(
            team_id__in=[m.team_id for m in memberships], state=Alert.State.OPEN
        )
        .values_list("team_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    rows = [(m.team, open_counts.get(m.team_id, 0)) for m in memberships]
    return render(request, "alerts/home.html", {"rows": rows})


@login_required
@require_GET
def rule_list(request: HtmxHttpRequest, team_slug: str) -> HttpResponse:
    team = _team(team_slug)
    membership = get_membership_or_404(request.user, team)
    rules = Rule.objects.filter(team=team).prefetch_related("channels")
    open_alerts = Alert.objects.filter(
        team=team, state=Alert.State.OPEN
    ).select_related("rule")
    return render(
        request,
        "alerts/rule_list.html",
        {
            "team": team,
            "membership": membership,
            "rules": rules,
            "open_alerts": open_alerts[:100],
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def rule_new(request: HtmxHttpRequest, team_slug: str) -> HttpResponse:
    team = _team(team_slug)
    require_role(request.user, team, Role.ADMIN)
    return _rule_form(request, team, Rule(team=team))


@login_required
@require_http_methods(["GET", "POST"])
def rule_edit(request: HtmxHttpRequest, rule_id: int) -> HttpResponse:
    rule, _membership = _rule(request, rule_id, Role.ADMIN)
    return _rule_form(request, rule.team, rule)


def _rule_form(request: HtmxHttpRequest, team: Team, rule: Rule) -> HttpResponse:
    if request.method == "POST":
        form = RuleForm(request.POST, instance=rule, team=team)
        form.validate_scope()
        if form.is_valid():
            saved = config.save_rule(
                Actor.from_request(request),
                team,
                form.save(commit=False),
                list(form.cleaned_data["channels"]),
            )
            messages.success(request, f"Alert rule {saved.name} saved.")
            return redirect("alerts-rule-detail", saved.pk)
        return render(
            request,
            "alerts/rule_form.html",
            {"team": team, "form": form, "rule": rule},
            status=400,
        )
    # Prefilled from a link (e.g. a triage group's or an explorer filter's "alert on this").
    initial = {
        name: request.GET[name]
        for name in ("name", "condition", "filter_query", "workspace", "saved_view")
        if request.GET.get(name)
    }
    form = RuleForm(instance=rule, team=team, initial=initial)
    return render(
        request, "alerts/rule_form.html", {"team": team, "form": form, "rule": rule}
    )


@login_required
@require_GET
def rule_detail(request: HtmxHttpRequest, rule_id: int) -> HttpResponse:
    rule, membership = _rule(request, rule_id, Role.VIEWER)
    template = "alerts/rule_detail.html"
    if request.htmx:
        template += "#activity"
    return render(request, template, _detail_context(rule, membership))


def _detail_context(rule: Rule, membership: Membership, **extra: Any) -> dict[str, Any]:
    return {
        "team": rule.team,
        "rule": rule,
        "membership": membership,
        "alerts": Alert.objects.filter(rule=rule).order_by("-opened_at")[:20],
        "events": AlertEvent.objects.filter(alert__rule=rule)
        .select_related("alert")
        .prefetch_related("deliveries__channel")[:30],
        "mute_form": MuteForm(),
        **extra,
    }


@login_required
@require_POST
def rule_mute(request: HtmxHttpRequest, rule_id: int) -> HttpResponse:
    rule, membership = _rule(request, rule_id, Role.OPERATOR)
    form = MuteForm(request.POST)
    if form.is_valid():
        config.mute_rule(Actor.from_request(request), rule, form.until())
    elif not request.htmx:
        messages.error(request, "Choose how long to mute the rule.")
    if request.htmx:
        context = _detail_context(rule, membership, mute_form=form)
        return render(request, "alerts/rule_detail.html#mute", context)
    return redirect("alerts-rule-detail", rule.pk)


@login_required
@require_POST
def rule_delete(request: HtmxHttpRequest, rule_id: int) -> HttpResponse:
    rule, _membership = _rule(request, rule_id, Role.ADMIN)
    team = rule.team
    config.delete_rule(Actor.from_request(request), rule)
    messages.success(request, "Alert rule deleted.")
    return redirect("alerts-rule-list", team.slug)


@login_required
@require_http_methods(["GET", "POST"])
def channel_list(request: HtmxHttpRequest, team_slug: str) -> HttpResponse:
    """Channels and digest settings of a team (admins); POST creates a channel."""
    team = _team(team_slug)
    require_role(request.user, team, Role.ADMIN)
    form = ChannelForm(request.POST or None)
    secret = ""
    status = 200
    if request.method == "POST":
        if form.is_valid():
            channel = Channel(
                name=form.cleaned_data["name"],
                kind=form.cleaned_data["kind"],
                extra_recipients=form.cleaned_data["extra_recipients"],
                enabled=form.cleaned_data["enabled"],
            )
            if Channel.objects.filter(team=team, name=channel.name).exists():
                form.add_error("name", "A channel of this team already has this name.")
            else:
                secret = config.save_channel(
                    Actor.from_request(request),
                    team,
                    channel,
                    url=form.cleaned_data["url"],
                )
                if not secret:
                    messages.success(request, f"Channel {channel.name} added.")
                    return redirect("alerts-channel-list", team.slug)
                form = ChannelForm()
        if not form.is_valid() and form.is_bound:
            status = 400
    digest = DigestSettings.objects.filter(team=team).first() or DigestSettings(
        team=team
    )
    return render(
        request,
        "alerts/channel_list.html",
        {
            "team": team,
            "channels": Channel.objects.filter(team=team),
            "form": form,
            "secret": secret,
            "digest_form": DigestSettingsForm(instance=digest),
        },
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def channel_edit(request: HtmxHttpRequest, channel_id: int) -> HttpResponse:
    channel = _channel(request, channel_id)
    initial = {
        "name": channel.name,
        "kind": channel.kind,
        "extra_recipients": channel.extra_recipients,
        "enabled": channel.enabled,
    }
    form = ChannelForm(request.POST or None, initial=initial, channel=channel)
    if request.method == "POST" and form.is_valid():
        name = form.cleaned_data["name"]
        if (
            Channel.objects.filter(team=channel.team, name=name)
            .exclude(pk=channel.pk)
            .exists()
        ):
            form.add_error("name", "A channel of this team already has this name.")
        else:
            channel.name = name
            channel.extra_recipients = form.cleaned_data["extra_recipients"]
            channel.enabled = form.cleaned_data["enabled"]
            config.save_channel(
                Actor.from_request(request),
                channel.team,
                channel,
                url=form.cleaned_data["url"],
            )
            messages.success(request, f"Channel {channel.name} saved.")
            return redirect("alerts-channel-list", channel.team.slug)
    return render(
        request,
        "alerts/channel_edit.html",
        {"team": channel.team, "channel": channel, "form": form},
        status=400 if form.is_bound and form.errors else 200,
    )


@login_required
@require_POST
def channel_rotate(request: HtmxHttpRequest, channel_id: int) -> HttpResponse:
    channel = _channel(request, channel_id)
    if channel.kind != Channel.Kind.WEBHOOK:
        messages.error(request, "Only JSON webhook channels have a signing secret.")
        return redirect("alerts-channel-edit", channel.pk)
    secret = config.rotate_secret(Actor.from_request(request), channel)
    form = ChannelForm(
        initial={"name": channel.name, "kind": channel.kind}, channel=channel
    )
    return render(
        request,
        "alerts/channel_edit.html",
        {"team": channel.team, "channel": channel, "form": form, "secret": secret},
    )


@login_required
@require_POST
def channel_test(request: HtmxHttpRequest, channel_id: int) -> HttpResponse:
    channel = _channel(request, channel_id)
    outcome = config.send_test(Actor.from_request(request), channel)
    level = messages.ERROR if outcome.startswith(("Not", "Your")) else messages.SUCCESS
    messages.add_message(request, level, outcome)
    return redirect("alerts-channel-edit", channel.pk)


@login_required
@require_POST
def channel_delete(request: HtmxHttpRequest, channel_id: int) -> HttpResponse:
    channel = _channel(request, channel_id)
    team = channel.team
    config.delete_channel(Actor.from_request(request), channel)
    messages.success(request, "Channel deleted.")
    return redirect("alerts-channel-list", team.slug)


@login_required
@require_POST
def digest_settings(request: HtmxHttpRequest, team_slug: str) -> HttpResponse:
    team = _team(team_slug)
    require_role(request.user, team, Role.ADMIN)
    row = DigestSettings.objects.filter(team=team).first() or DigestSettings(team=team)
    form = DigestSettingsForm(request.POST, instance=row)
    if form.is_valid():
        config.save_digest_settings(
            Actor.from_request(request), form.save(commit=False)
        )
        messages.success(request, "Digest settings saved.")
    else:
        messages.error(
            request,
            "The digest settings were not saved: "
            + "; ".join(
                f"{form.fields[name].label}: {' '.join(str(e) for e in errs)}"
                for name, errs in form.errors.items()
            ),
        )
    return redirect("alerts-channel-list", team.slug)


@login_required
@require_GET
def history(request: HtmxHttpRequest, team_slug: str) -> HttpResponse:
    team = _team(team_slug)
    get_membership_or_404(request.user, team)
    alerts = Alert.objects.filter(team=team).select_related("rule", "workspace")
    state = request.GET.get("state", "")
    if state in Alert.State.values:
        alerts = alerts.filter(state=state)
    rule_id = request.GET.get("rule", "")
    if rule_id.isdigit():
        alerts = alerts.filter(rule_id=int(rule_id))
    page = Paginator(alerts.order_by("-opened_at", "-id"), HISTORY_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    template = "alerts/history.html" + ("#history" if request.htmx else "")
    return render(
        request,
        template,
        {
            "team": team,
            "page": page,
            "state": state,
            "rule_id": rule_id,
            "rules": Rule.objects.filter(team=team),
            "states": Alert.State.choices,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def preferences(request: HtmxHttpRequest) -> HttpResponse:
    """The user's alert mail, per team they belong to."""
    assert request.user.is_authenticated
    prefs = config.preferences_for(request.user)
    forms = [
        PreferenceForm(request.POST or None, instance=p, prefix=f"t{p.team_id}")
        for p in prefs
    ]
    if request.method == "POST":
        if all(f.is_valid() for f in forms):
            for form in forms:
                config.save_preference(
                    form.save(commit=False), form.cleaned_data["mute_hours"]
                )
            messages.success(request, "Alert preferences saved.")
            return redirect("alerts-preferences")
        return render(request, "alerts/preferences.html", {"forms": forms}, status=400)
    return render(request, "alerts/preferences.html", {"forms": forms})
