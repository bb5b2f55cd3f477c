"""Retry policies and alerts of the token's team, read only (writing a policy or a rule is
an admin's act, and tokens are never admins)."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any, Literal

from django.http import Http404, HttpRequest
from ninja import Router, Schema

from dashboard.alerts.models import Alert
from dashboard.api.routes.common import ERRORS, Id, token_of
from dashboard.policies.models import PolicyEvent, RetryPolicy

router = Router()
EVENTS_SHOWN = 20


class PolicyOut(Schema):
    id: int
    name: str
    description: str
    state: str
    state_reason: str
    state_changed_at: datetime
    workspace_ids: list[int]
    process_names: list[str]
    exception_type: str
    exception_codes: list[str]
    message_pattern: str
    max_item_age_hours: int | None
    backoff_minutes: list[int]
    max_attempts: int
    max_items_per_hour: int
    quiet_start: time | None
    quiet_end: time | None


class PolicyEventOut(Schema):
    kind: str
    message: str
    actor: str
    at: datetime


class PolicyDetailOut(PolicyOut):
    events: list[PolicyEventOut]


class AlertOut(Schema):
    id: int
    rule_id: int
    rule: str
    state: str
    title: str
    detail: str
    link: str
    workspace_id: int | None
    opened_at: datetime
    recovered_at: datetime | None


def _policy_out(policy: RetryPolicy) -> dict[str, Any]:
    return {
        "id": policy.pk,
        "name": policy.name,
        "description": policy.description,
        "state": policy.state,
        "state_reason": policy.state_reason,
        "state_changed_at": policy.state_changed_at,
        "workspace_ids": sorted(w.pk for w in policy.workspaces.all()),
        "process_names": list(policy.process_names or []),
        "exception_type": policy.exception_type,
        "exception_codes": list(policy.exception_codes or []),
        "message_pattern": policy.message_pattern,
        "max_item_age_hours": policy.max_item_age_hours,
        "backoff_minutes": list(policy.backoff_minutes or []),
        "max_attempts": policy.max_attempts,
        "max_items_per_hour": policy.max_items_per_hour,
        "quiet_start": policy.quiet_start,
        "quiet_end": policy.quiet_end,
    }


def _policies(request: HttpRequest) -> Any:
    team = token_of(request).team
    return RetryPolicy.objects.filter(team=team).prefetch_related("workspaces")


@router.get("/policies", response={200: list[PolicyOut], **ERRORS}, tags=["policies"])
def list_policies(request: HttpRequest) -> list[dict[str, Any]]:
    """The team's retry policies and their state (enabled, paused, breaker open, …)."""
    return [_policy_out(p) for p in _policies(request).order_by("name", "id")]


@router.get(
    "/policies/{policy_id}",
    response={200: PolicyDetailOut, **ERRORS},
    tags=["policies"],
)
def get_policy(request: HttpRequest, policy_id: int = Id) -> dict[str, Any]:
    """One policy with its latest events (state changes, breaker openings)."""
    policy = _policies(request).filter(pk=policy_id).first()
    if policy is None:
        raise Http404("No such retry policy.")
    events = PolicyEvent.objects.filter(policy=policy).order_by("-created_at", "-id")
    return _policy_out(policy) | {
        "events": [
            {
                "kind": e.kind,
                "message": e.message,
                "actor": e.actor_label,
                "at": e.created_at,
            }
            for e in events[:EVENTS_SHOWN]
        ]
    }


@router.get("/alerts", response={200: list[AlertOut], **ERRORS}, tags=["alerts"])
def list_alerts(
    request: HttpRequest, state: Literal["open", "recovered"] = "open"
) -> list[dict[str, Any]]:
    """The team's alerts: open ones (default), or `state=recovered`; the newest 100."""
    alerts = (
        Alert.objects.filter(team=token_of(request).team, state=state)
        .select_related("rule")
        .order_by("-opened_at", "-id")[:100]
    )
    return [
        {
            "id": a.pk,
            "rule_id": a.rule_id,
            "rule": a.rule.name,
            "state": a.state,
            "title": a.title,
            "detail": a.detail,
            "link": a.link,
            "workspace_id": a.workspace_id,
            "opened_at": a.opened_at,
            "recovered_at": a.recovered_at,
        }
        for a in alerts
    ]
