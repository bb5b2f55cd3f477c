"""The NinjaAPI instance: token auth, RFC 9457 errors, and the OpenAPI document's additions
(problem+json error bodies, Idempotency-Key, Retry-After, ETag)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security import HttpBearer

from dashboard.api.catalogue import router as catalogue_router
from dashboard.api.conventions import PROBLEM, problem
from dashboard.api.routes import (
    automation,
    bulk,
    items,
    picklists,
    runs,
    workspaces,
)
from dashboard.api.routes.common import ApiRefusal
from dashboard.lib.errors import WorkroomError


class TokenAuth(HttpBearer):
    """`Authorization: Bearer wr_…`; checked by `conventions.ApiMiddleware`, which has
    already put the token on the request (or answered 401)."""

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        return getattr(request, "api_token", None)


class WorkroomApi(NinjaAPI):
    def get_openapi_schema(self, *args: Any, **kwargs: Any) -> Any:
        schema = super().get_openapi_schema(*args, **kwargs)
        for operations in schema.get("paths", {}).values():
            for method, operation in operations.items():
                _conventions(method, operation)
        return schema


def _conventions(method: str, operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    for code in list(responses):
        responses[str(code)] = responses.pop(code)
    for code, answer in responses.items():
        content = answer.get("content", {})
        if code[0] in "45" and "application/json" in content:
            answer["content"] = {PROBLEM: content["application/json"]}
    if "429" in responses:
        responses["429"]["headers"] = {
            "Retry-After": {
                "description": "Seconds until the token's next minute starts.",
                "schema": {"type": "integer"},
            }
        }
    if method == "get":
        responses["304"] = {"description": "Not modified (If-None-Match matched)."}
        for code, answer in responses.items():
            if code == "200":
                answer["headers"] = {
                    "ETag": {
                        "description": "Of the body.",
                        "schema": {"type": "string"},
                    }
                }
    if method == "post":
        operation.setdefault("parameters", []).append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "description": "Same key and request: the first answer again; same key "
                "with another request: 409. Kept for WORKROOM_API_IDEMPOTENCY_HOURS.",
                "schema": {"type": "string", "maxLength": 200, "pattern": "^[!-~]+$"},
            }
        )


api = WorkroomApi(
    title="Workroom API",
    version="1",
    description="Team-scoped, audited access to the Workroom mirror and action core. "
    "Authenticate with `Authorization: Bearer <token>` (tokens are created on the team's "
    "API tokens page). Errors are application/problem+json (RFC 9457).",
    auth=TokenAuth(),
    urls_namespace="api",
    docs_url=None,
    openapi_url="/openapi.json",
)
for routes in (workspaces, runs, items, bulk, picklists, automation):
    api.add_router("/", routes.router)
api.add_router("/", catalogue_router)


@api.exception_handler(ApiRefusal)
def _refused(request: HttpRequest, exc: ApiRefusal) -> HttpResponse:
    return problem(exc.status, exc.message)


@api.exception_handler(WorkroomError)
def _workroom_error(request: HttpRequest, exc: WorkroomError) -> HttpResponse:
    return problem(409, exc.message)


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return problem(404, str(exc) or "Not found.")


@api.exception_handler(PermissionDenied)
def _forbidden(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return problem(403, str(exc) or "Not allowed.")


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return problem(401, "An API token is needed (Authorization: Bearer …).")


@api.exception_handler(ValidationError)
def _invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors = [
        {
            "field": ".".join(str(p) for p in e.get("loc", ())[1:]) or "body",
            "message": e.get("msg", ""),
        }
        for e in exc.errors
    ]
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return problem(422, f"The request is not valid ({detail}).", errors=errors)


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return problem(exc.status_code, str(exc))
