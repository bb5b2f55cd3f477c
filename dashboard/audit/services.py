"""Writing to and reading from the audit trail."""

from __future__ import annotations

import ipaddress
from datetime import date, datetime, time
from typing import Any

from django.conf import settings
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from dashboard.accounts.models import Team
from dashboard.audit.models import AuditEvent


def client_ip(request: HttpRequest) -> str | None:
    """Return the client's IP: REMOTE_ADDR, or the first X-Forwarded-For hop when trusted.

    X-Forwarded-For is only honoured with WORKROOM_TRUST_X_FORWARDED_FOR, because any
    client can send it; behind a proxy that overwrites it, it is the real address.
    """
    candidate = request.META.get("REMOTE_ADDR", "")
    if getattr(settings, "WORKROOM_TRUST_X_FORWARDED_FOR", False):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            candidate = forwarded.split(",")[0].strip()
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return None


def record(
    request: HttpRequest | None,
    *,
    team: Team,
    action: str,
    obj: Model | None = None,
    summary: str,
    data: dict[str, Any] | None = None,
    actor: Any = None,
) -> AuditEvent:
    """Append one event. The actor defaults to the request's user.

    Never pass secrets in `summary` or `data`: they are shown to every team admin.
    """
    if actor is None and request is not None and request.user.is_authenticated:
        actor = request.user
    event = AuditEvent(
        team=team,
        actor=actor if actor is not None and actor.is_authenticated else None,
        actor_label=actor.get_username() if actor is not None else "",
        action=action,
        summary=summary[:500],
        data=data or {},
    )
    if obj is not None:
        event.object_type = obj._meta.label_lower
        event.object_id = str(obj.pk)
        event.object_repr = str(obj)[:200]
    if request is not None:
        event.ip = client_ip(request)
        event.user_agent = request.META.get("HTTP_USER_AGENT", "")[:300]
    event.save()
    return event


def events_for(
    team: Team,
    *,
    actor_id: int | None = None,
    action: str = "",
    since: date | None = None,
    until: date | None = None,
) -> QuerySet[AuditEvent]:
    """Return the team's events, newest first, filtered; dates are inclusive local days."""
    events = AuditEvent.objects.filter(team=team).select_related("actor")
    if actor_id is not None:
        events = events.filter(actor_id=actor_id)
    if action:
        events = events.filter(action__startswith=action)
    tz = timezone.get_current_timezone()
    if since is not None:
        events = events.filter(
            created_at__gte=datetime.combine(since, time.min, tzinfo=tz)
        )
    if until is not None:
        events = events.filter(
            created_at__lte=datetime.combine(until, time.max, tzinfo=tz)
        )
    return events.order_by("-created_at", "-id")


def actions_for(team: Team) -> list[str]:
    """Return the distinct actions recorded for a team, sorted."""
    return sorted(
        AuditEvent.objects.filter(team=team)
        .values_list("action", flat=True)
        .distinct()
        .order_by()
    )
