"""What every endpoint module shares: the documented refusals, the id type, the request's
token, scope and actor, the operator check and `next` links."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from ninja import Path

from dashboard.api.models import ApiToken
from dashboard.api.schemas import Problem
from dashboard.audit.services import Actor
from dashboard.lib.errors import WorkroomError
from dashboard.workitems.selectors import Scope

# The refusals every operation may answer, each as a problem document.
ERRORS: dict[Any, Any] = {frozenset({400, 401, 403, 404, 409, 422, 429, 503}): Problem}
MAX_ID = 2**53
Id = Path(..., ge=1, le=MAX_ID)


class ApiRefusal(WorkroomError):
    """A refusal with the HTTP status that says it (the message is the UI's)."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.status = status


def token_of(request: HttpRequest) -> ApiToken:
    token = getattr(request, "api_token", None)
    if token is None:  # the middleware lets no request through without one
        raise PermissionDenied("An API token is needed.")
    return token


def scope_of(request: HttpRequest) -> Scope:
    return Scope.for_user(request.user)


def actor_of(request: HttpRequest) -> Actor:
    return Actor.from_request(request)


def require_operator(request: HttpRequest) -> None:
    token = token_of(request)
    if not token.can_act:
        raise PermissionDenied(
            f"The token {token.name} is a viewer token: it can read, not act."
        )


def next_link(request: HttpRequest, **changes: str) -> str:
    params = request.GET.copy()
    for name, value in changes.items():
        params[name] = value
    params.pop("before", None)
    return request.build_absolute_uri(f"{request.path}?{params.urlencode()}")
