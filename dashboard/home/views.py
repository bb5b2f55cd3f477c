"""The home page: what needs attention across my workspaces, then my teams."""

from __future__ import annotations

from typing import Any, cast

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from dashboard.accounts.http import HtmxHttpRequest
from dashboard.accounts.models import Membership
from dashboard.home.attention import attention_for
from dashboard.workitems.selectors import Scope


@login_required
@require_GET
def home(request: HtmxHttpRequest) -> HttpResponse:
    attention = attention_for(Scope.for_user(request.user))
    if request.htmx:
        return render(request, "home/home.html#attention", {"attention": attention})
    memberships = (
        Membership.objects.filter(user=cast(Any, request.user))
        .select_related("team")
        .prefetch_related("team__workspaces")
        .order_by("team__name")
    )
    return render(
        request,
        "home/home.html",
        {"attention": attention, "memberships": memberships},
    )
