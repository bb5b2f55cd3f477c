"""The conventions of every /api/ call, in one middleware: a bearer token (401 otherwise),
a per-token rate limit in Redis (429 + Retry-After), Idempotency-Key replays on POST, and
ETags on GET (304 on If-None-Match). Errors are RFC 9457 problem documents."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Callable
from datetime import timedelta
from http import HTTPStatus
from typing import Any

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from dashboard.api import conf
from dashboard.api.models import ApiToken, IdempotentAnswer
from dashboard.api.tokens import TokenError, authenticate

logger = logging.getLogger(__name__)

PROBLEM = "application/problem+json"
# Served without a token: the document and the docs page describe the API, nothing more.
PUBLIC_PATHS = ("/api/openapi.json", "/api/docs")
Handler = Callable[[HttpRequest], HttpResponse]


def problem(status: int, detail: str, *, title: str = "", **extra: Any) -> HttpResponse:
    """Return an RFC 9457 problem response; `detail` is the message the UI would show."""
    body = {
        "type": "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        **extra,
    }
    return HttpResponse(json.dumps(body), status=status, content_type=PROBLEM)


def bearer(request: HttpRequest) -> str:
    scheme, _, value = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


class ApiMiddleware:
    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith("/api/") or request.path in PUBLIC_PATHS:
            return self.get_response(request)
        try:
            token = authenticate(bearer(request))
        except TokenError as err:
            response = problem(401, err.message)
            response["WWW-Authenticate"] = 'Bearer realm="workroom"'
            return response
        request.user = token.principal
        request.api_token = token  # type: ignore[attr-defined]
        wait = rate_limited(token)
        if wait:
            response = problem(
                429, f"Too many requests for token {token.name}: retry in {wait} s."
            )
            response["Retry-After"] = str(wait)
            return response
        if request.method == "POST" and request.headers.get("Idempotency-Key"):
            return as_problem(idempotent(request, token, self.get_response))
        return with_etag(request, as_problem(self.get_response(request)))


def as_problem(response: HttpResponse) -> HttpResponse:
    """An error Django answered by itself (no such endpoint, a method not allowed) as a
    problem document too, so every /api/ error has one shape."""
    if response.status_code < 400 or getattr(response, "streaming", False):
        return response
    if "json" in response.get("Content-Type", ""):
        return response
    detail = {404: "No such API endpoint.", 405: "This method is not allowed here."}
    converted = problem(
        response.status_code,
        detail.get(response.status_code, HTTPStatus(response.status_code).phrase),
    )
    if "Allow" in response:
        converted["Allow"] = response["Allow"]
    return converted


# --- rate limit -------------------------------------------------------------------------------

WINDOW = 60


def rate_limited(token: ApiToken, now: float | None = None) -> int:
    """Count one request in the token's current minute; return the seconds to wait when over
    the limit (0: go ahead). A cache outage lets requests through: the limit protects the
    service, it is not worth refusing every call for."""
    limit = conf.rate_limit()
    if not limit:
        return 0
    now = time.time() if now is None else now
    window = int(now // WINDOW)
    key = f"api-rate:{token.pk}:{window}"
    try:
        cache.add(key, 0, timeout=WINDOW + 5)
        count = cache.incr(key)
    except Exception:  # the cache (Redis) is down
        logger.warning("API rate limit not enforced: the cache is unreachable")
        return 0
    if count <= limit:
        return 0
    return max(1, math.ceil((window + 1) * WINDOW - now))


# --- Idempotency-Key --------------------------------------------------------------------------


# Longer than any request is allowed to run (gunicorn's timeout), so a live answer is never
# taken for an abandoned one.
ABANDONED_AFTER = timedelta(minutes=10)


def _request_hash(request: HttpRequest) -> str:
    digest = hashlib.sha256(f"{request.method} {request.get_full_path()}\n".encode())
    digest.update(request.body)
    return digest.hexdigest()


def idempotent(request: HttpRequest, token: ApiToken, handler: Handler) -> HttpResponse:
    """Answer a POST once per (token, key): the same key and request get the stored answer;
    the same key with another request is a 409. Keys expire after WORKROOM_API_IDEMPOTENCY_HOURS."""
    key = request.headers["Idempotency-Key"][:200]
    fingerprint = _request_hash(request)
    IdempotentAnswer.objects.filter(
        token=token, created_at__lt=timezone.now() - conf.idempotency_ttl()
    ).delete()
    try:
        with transaction.atomic():
            record = IdempotentAnswer.objects.create(
                token=token, key=key, request_hash=fingerprint
            )
    except IntegrityError:
        stored = IdempotentAnswer.objects.filter(token=token, key=key).first()
        if stored is None:  # expired and purged between the two statements
            return problem(409, "This Idempotency-Key is being reused; try again.")
        if stored.request_hash != fingerprint:
            return problem(
                409,
                "This Idempotency-Key was used with another request; use a new key.",
            )
        if stored.status is None:
            if stored.created_at < timezone.now() - ABANDONED_AFTER:
                # Its process died mid-answer: nothing was stored, the client may try again.
                stored.delete()
                return idempotent(request, token, handler)
            return problem(
                409, "A request with this Idempotency-Key is still being answered."
            )
        replay = HttpResponse(
            bytes(stored.body), status=stored.status, content_type=stored.content_type
        )
        replay["Idempotent-Replayed"] = "true"
        return replay
    try:
        response = handler(request)
    except BaseException:
        record.delete()
        raise
    if response.status_code >= 500 or getattr(response, "streaming", False):
        record.delete()  # a failure is not an answer: the client may try again
        return response
    record.status = response.status_code
    record.content_type = response.get("Content-Type", "")
    record.body = response.content
    record.save(update_fields=["status", "content_type", "body"])
    return response


# --- ETag -------------------------------------------------------------------------------------


def with_etag(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """Tag a 200 GET answer with a strong ETag of its body; 304 when the client has it."""
    if request.method != "GET" or response.status_code != 200:
        return response
    if getattr(response, "streaming", False):
        return response
    etag = '"' + hashlib.sha256(response.content).hexdigest()[:32] + '"'
    response["ETag"] = etag
    wanted = [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]
    if etag in wanted or "*" in wanted:
        not_modified = HttpResponse(status=304)
        not_modified["ETag"] = etag
        return not_modified
    return response
