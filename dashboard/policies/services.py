"""Writing retry policies: create, edit, enable / disable / pause / resume. Team admins only
(checked here, at the moment of the change); every change is an event and an audit entry."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from dashboard.accounts.models import Role, Team
from dashboard.accounts.permissions import require_role
from dashboard.audit.services import Actor, record_by
from dashboard.lib.errors import WorkroomError
from dashboard.policies.alerting import breaker_closed
from dashboard.policies.models import PolicyEvent, RetryPolicy
from dashboard.workspaces.models import Workspace

State = RetryPolicy.State

# The transitions a team admin may ask for: (from states) → to state.
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "enable": ((State.DISABLED, State.PAUSED, State.BREAKER_OPEN), State.ENABLED),
    "pause": ((State.ENABLED,), State.PAUSED),
    "disable": ((State.ENABLED, State.PAUSED, State.BREAKER_OPEN), State.DISABLED),
}
VERBS = {"enable": "Enabled", "pause": "Paused", "disable": "Disabled"}


class PolicyRefused(WorkroomError):
    """The change is not possible now (the message says why)."""


def _admin(actor: Actor, team: Team) -> None:
    if actor.user is None:
        raise PolicyRefused("Only a team admin may change retry policies.")
    require_role(actor.user, team, Role.ADMIN)


@transaction.atomic
def save_policy(
    actor: Actor,
    team: Team,
    policy: RetryPolicy,
    workspaces: list[Workspace],
    *,
    changed: list[str] | None = None,
) -> RetryPolicy:
    """Create or update a policy (a new one starts disabled: dry-run it, then enable)."""
    _admin(actor, team)
    if any(w.team_id != team.pk for w in workspaces):
        raise PolicyRefused("A policy can only cover its own team's workspaces.")
    created = policy.pk is None
    policy.team = team
    policy.updated_at = timezone.now()
    policy.save()
    policy.workspaces.set(workspaces)
    kind = "created" if created else "edited"
    detail = "" if created else f" ({', '.join(changed or []) or 'no change'})"
    _event(policy, actor, kind, f"{kind.capitalize()} by {actor.label}{detail}.")
    record_by(
        actor,
        team=team,
        action=f"policy.{kind}",
        obj=policy,
        summary=f"{kind.capitalize()} retry policy {policy.name}{detail}",
        data={"policy_id": policy.pk, **_summary(policy)},
    )
    return policy


def _summary(policy: RetryPolicy) -> dict[str, Any]:
    return {
        "processes": policy.process_names,
        "exception_type": policy.exception_type,
        "codes": policy.exception_codes,
        "pattern": policy.message_pattern,
        "backoff_minutes": policy.backoff_minutes,
        "max_attempts": policy.max_attempts,
        "max_items_per_hour": policy.max_items_per_hour,
    }


@transaction.atomic
def change_state(actor: Actor, policy: RetryPolicy, transition: str) -> RetryPolicy:
    """Enable, pause or disable a policy. Enabling makes the actor its acting member.

    Raises:
        PolicyRefused: unknown transition, or not possible from the current state.
    """
    _admin(actor, policy.team)
    if transition not in TRANSITIONS:
        raise PolicyRefused("Unknown change.")
    sources, target = TRANSITIONS[transition]
    fields: dict[str, Any] = {
        "state": target,
        "state_reason": f"{VERBS[transition]} by {actor.label}.",
        "state_changed_at": timezone.now(),
    }
    if target == State.ENABLED:
        fields["acting_user"] = actor.user
    if not RetryPolicy.objects.filter(pk=policy.pk, state__in=sources).update(**fields):
        policy.refresh_from_db()
        raise PolicyRefused(
            f"The policy is {policy.get_state_display().lower()}; it cannot be "
            f"{VERBS[transition].lower()} now."
        )
    policy.refresh_from_db()
    if target == State.ENABLED:
        transaction.on_commit(lambda: breaker_closed(policy), robust=True)
    _event(policy, actor, transition, fields["state_reason"])
    record_by(
        actor,
        team=policy.team,
        action=f"policy.{transition}",
        obj=policy,
        summary=f"{VERBS[transition]} retry policy {policy.name}",
        data={"policy_id": policy.pk},
    )
    return policy


def _event(policy: RetryPolicy, actor: Actor, kind: str, message: str) -> None:
    PolicyEvent.objects.create(
        policy=policy, kind=kind, message=message[:500], actor_label=actor.label
    )
