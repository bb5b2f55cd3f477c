"""Writing to and reading from the audit trail."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, replace
from datetime import date, datetime, time
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from dashboard.accounts.models import Team, User
from dashboard.audit.models import AuditEvent


def client_ip(request: HttpRequest) -> str | None:
    """Return the client's IP: REMOTE_ADDR, or the first X-Forwarded-For hop when trusted.

    X-Forwarded-For is only honoured with WORKROOM_TRUST_X_FORWARDED_FOR, because any
    client can send it; behind a proxy that overwrites it, it is the real address.
    """
    candidate = request.META.get("REMOTE_ADDR", "")
    if settings.WORKROOM_TRUST_X_FORWARDED_FOR:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            candidate = forwarded.split(",")[0].strip()
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return None


@dataclass(frozen=True)
class Actor:
    """Who does something: a user now (a token or a policy later), and where the request
    came from. Services take this value, never an `HttpRequest`."""

    user: User | None = None
    label: str = ""
    ip: str | None = None
    user_agent: str = ""

    @classmethod
    def of(cls, user: User | AnonymousUser | None) -> Actor:
        """Return the actor for a user acting outside a request (a worker, a command)."""
        if user is None or not user.is_authenticated:
            return cls(label=user.get_username() if user is not None else "")
        return cls(user=user, label=user.get_username())

    @classmethod
    def from_request(cls, request: HttpRequest) -> Actor:
        """Return the request's user with its client IP and user agent."""
        return replace(
            cls.of(request.user),
            ip=client_ip(request),
            user_agent=request.META.get("HTTP_USER_AGENT", "")[:300],
        )


def record_by(
    actor: Actor,
    *,
    team: Team,
    action: str,
    obj: Model | None = None,
    summary: str,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event done by `actor`.

    Never pass secrets in `summary` or `data`: they are shown to every team admin.
    """
    event = AuditEvent(
        team=team,
        actor=actor.user,
        actor_label=actor.label,
        action=action,
        summary=summary[:500],
        data=data or {},
        ip=actor.ip,
        user_agent=actor.user_agent,
    )
    if obj is not None:
        event.object_type = obj._meta.label_lower
        event.object_id = str(obj.pk)
        event.object_repr = str(obj)[:200]
    event.save()
    return event


def record(
    request: HttpRequest | None,
    *,
    team: Team,
    action: str,
    obj: Model | None = None,
    summary: str,
    data: dict[str, Any] | None = None,
    actor: User | AnonymousUser | None = None,
) -> AuditEvent:
    """Append one event. The actor defaults to the request's user; the request adds its
    client IP and user agent. Prefer `record_by` with an `Actor` in services."""
    who = Actor.from_request(request) if request is not None else Actor()
    if actor is not None:
        who = replace(who, user=Actor.of(actor).user, label=Actor.of(actor).label)
    return record_by(who, team=team, action=action, obj=obj, summary=summary, data=data)


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
