"""Project-level views: /healthz and the CSRF failure page."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from django_htmx.http import HttpResponseClientRefresh

from dashboard.lib import heartbeat as hb

CSRF_HTMX_MESSAGE = (
    "Your session changed (for example you signed in again in another tab), so that action was not "
    "done. The page has been reloaded: please try again."
)


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def _check_database() -> dict[str, Any]:
    started = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        # The class name only: driver messages can carry host names and user names.
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True, "latency_ms": _elapsed_ms(started)}


def _check_redis_and_worker() -> tuple[dict[str, Any], dict[str, Any]]:
    started = time.perf_counter()
    client = hb.connect(settings.REDIS_URL, timeout=1.0)
    try:
        client.ping()
        redis_check: dict[str, Any] = {"ok": True, "latency_ms": _elapsed_ms(started)}
        last = hb.read(client, settings.WORKROOM_HEARTBEAT_KEY)
    except Exception as exc:
        unknown = {
            "ok": False,
            "last_heartbeat": None,
            "age_s": None,
            "error": "redis unavailable",
        }
        return {"ok": False, "error": type(exc).__name__}, unknown
    finally:
        client.close()
    if last is None:
        return redis_check, {"ok": False, "last_heartbeat": None, "age_s": None}
    age = max(0.0, (datetime.now(tz=UTC) - last).total_seconds())
    worker = {
        "ok": age <= settings.WORKROOM_HEARTBEAT_MAX_AGE,
        "last_heartbeat": last.isoformat(),
        "age_s": round(age, 1),
    }
    return redis_check, worker


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Answer the health of the database, Redis and the worker: 200 when all are ok, else 503."""
    database = _check_database()
    redis_check, worker = _check_redis_and_worker()
    if not database["ok"]:
        status = "down"
    elif redis_check["ok"] and worker["ok"]:
        status = "ok"
    else:
        status = "degraded"
    body = {
        "status": status,
        "checks": {"database": database, "redis": redis_check, "worker": worker},
    }
    return JsonResponse(body, status=200 if status == "ok" else 503)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """Reload the page for htmx requests (a stale token after login elsewhere); else explain."""
    if request.headers.get("HX-Request") == "true":
        messages.warning(request, CSRF_HTMX_MESSAGE)
        response = HttpResponseClientRefresh()
        response.status_code = 403
        return response
    return render(request, "403_csrf.html", status=403)
