"""The team's audit log: admins only, filterable, newest first."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from dashboard.accounts.http import HtmxHttpRequest
from dashboard.accounts.models import Role, Team
from dashboard.accounts.permissions import require_role
from dashboard.audit import services
from dashboard.audit.forms import AuditFilterForm
from dashboard.audit.links import with_links
from dashboard.audit.models import AuditEvent

PAGE_SIZE = 50


def _actor_choices(team: Team) -> list[tuple[int, str]]:
    """Current members plus anyone who ever appears in the team's trail."""
    actor_ids = AuditEvent.objects.filter(team=team, actor__isnull=False).values(
        "actor_id"
    )
    users = get_user_model().objects.filter(
        Q(memberships__team=team) | Q(pk__in=actor_ids)
    )
    return [(u.pk, u.get_username()) for u in users.distinct().order_by("username")]


@login_required
@require_GET
def event_list(request: HtmxHttpRequest, team_slug: str) -> HttpResponse:
    team = get_object_or_404(Team, slug=team_slug)
    require_role(request.user, team, Role.ADMIN)
    form = AuditFilterForm(
        request.GET or None,
        team=team,
        actors=_actor_choices(team),
        actions=services.actions_for(team),
    )
    filters = form.cleaned_data if form.is_bound and form.is_valid() else {}
    events = services.events_for(
        team,
        actor_id=filters.get("actor"),
        action=filters.get("action") or "",
        since=filters.get("since"),
        until=filters.get("until"),
    )
    page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "team": team,
        "form": form,
        "page": page,
        "rows": with_links(page.object_list),
        "query": query.urlencode(),
    }
    template = "audit/event_list.html"
    if request.htmx and not request.htmx.boosted:
        template += "#results"
    return render(request, template, context)
