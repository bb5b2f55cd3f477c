"""The team's API tokens page (create: the value shown once; revoke) and the API docs page."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.middleware import HtmxDetails

from dashboard.accounts.models import Team
from dashboard.accounts.permissions import get_membership_or_404
from dashboard.api import tokens
from dashboard.api.api import api
from dashboard.api.forms import TokenForm
from dashboard.api.models import ApiToken
from dashboard.audit.services import Actor


def _team(request: Any, slug: str) -> tuple[Team, Any]:
    team = get_object_or_404(Team, slug=slug)
    return team, get_membership_or_404(request.user, team)


def _page(request: Any, team: Team, membership: Any, **extra: Any) -> dict[str, Any]:
    return {
        "team": team,
        "membership": membership,
        "tokens": tokens.tokens_of(team, request.user),
        "form": extra.pop("form", None) or TokenForm(),
        **extra,
    }


def _render(request: Any, context: dict[str, Any], status: int = 200) -> HttpResponse:
    htmx: HtmxDetails | None = getattr(request, "htmx", None)
    template = "api/tokens.html#tokens" if htmx else "api/tokens.html"
    return render(request, template, context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def token_list(request: Any, slug: str) -> HttpResponse:
    team, membership = _team(request, slug)
    if request.method == "GET":
        return _render(request, _page(request, team, membership))
    form = TokenForm(request.POST)
    if not form.is_valid():
        return _render(request, _page(request, team, membership, form=form), 400)
    try:
        new = tokens.create_token(
            team,
            request.user,
            Actor.from_request(request),
            name=form.cleaned_data["name"],
            kind=form.cleaned_data["kind"],
            role=form.cleaned_data["role"],
            expires_at=form.expires_at(),
        )
    except tokens.TokenError as err:
        form.add_error(None, err.message)
        return _render(request, _page(request, team, membership, form=form), 400)
    # The value is in this response only: no redirect, never in a URL, session or log.
    return _render(request, _page(request, team, membership, new=new), 201)


@login_required
@require_POST
def token_revoke(request: Any, slug: str, token_id: int) -> HttpResponse:
    team, membership = _team(request, slug)
    token = ApiToken.objects.filter(pk=token_id, team=team).first()
    if token is None or not tokens.may_revoke(token, request.user):
        raise Http404("No such token.")
    if tokens.revoke(token, Actor.from_request(request)):
        messages.success(request, f"Token {token.name} revoked.")
    return _render(request, _page(request, team, membership, revoked=token))


@require_GET
def api_docs(request: Any) -> HttpResponse:
    """A server-rendered reference over the OpenAPI document (no script, no CDN)."""
    schema = api.get_openapi_schema()
    operations = [
        {
            "method": method.upper(),
            "path": path,
            "summary": op.get("summary", ""),
            "description": op.get("description", ""),
            "tag": (op.get("tags") or [""])[0],
            "parameters": [
                p for p in op.get("parameters", []) if p.get("in") != "header"
            ],
            "body": "requestBody" in op,
            "responses": sorted(op.get("responses", {})),
        }
        for path, methods in schema["paths"].items()
        for method, op in methods.items()
    ]
    return render(
        request,
        "api/docs.html",
        {"info": schema["info"], "operations": operations},
    )
