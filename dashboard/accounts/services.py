"""Rules for teams, memberships and invitations."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.text import slugify

from dashboard.accounts.models import (
    Invitation,
    Membership,
    Role,
    Team,
    User,
    signed_in,
)
from dashboard.accounts.signals import team_event
from dashboard.accounts.timezones import set_team_zone
from dashboard.lib.errors import WorkroomError


class TeamRuleError(WorkroomError):
    """A team rule was broken; `message` is safe to show to the user."""


class InvitationError(TeamRuleError):
    pass


class LastAdminError(TeamRuleError):
    pass


def _announce(
    request: HttpRequest | None,
    *,
    team: Team,
    action: str,
    obj: Any,
    summary: str,
    actor: User | AnonymousUser | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    team_event.send(
        sender=Team,
        request=request,
        team=team,
        action=action,
        obj=obj,
        summary=summary,
        data=data or {},
        actor=actor,
    )


# Slugs that would shadow fixed URLs under /teams/.
RESERVED_SLUGS = frozenset({"new"})


def _unique_slug(name: str) -> str:
    base = slugify(name)[:100] or "team"
    slug, n = base, 1
    while slug in RESERVED_SLUGS or Team.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def hash_token(token: str) -> str:
    """Return the stored form of an invitation token."""
    return hashlib.sha256(token.encode()).hexdigest()


def invitation_ttl() -> timedelta:
    return timedelta(hours=settings.WORKROOM_INVITATION_TTL_HOURS)


@transaction.atomic
def create_team(creator: Any, name: str, *, request: HttpRequest | None = None) -> Team:
    """Create a team whose creator is its first admin."""
    name = name.strip()
    if not name:
        raise TeamRuleError("A team needs a name.")
    team = Team.objects.create(name=name, slug=_unique_slug(name))
    Membership.objects.create(team=team, user=creator, role=Role.ADMIN)
    _announce(
        request,
        team=team,
        action="team.created",
        obj=team,
        actor=creator,
        summary=f"{creator} created the team {team.name}",
    )
    return team


@transaction.atomic
def create_invitation(
    team: Team,
    actor: User | AnonymousUser | None,
    role: Role | int,
    *,
    request: HttpRequest | None = None,
) -> tuple[Invitation, str]:
    """Create an invitation; return it with its token, which is never stored or shown again."""
    role = Role(role)
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        team=team,
        role=role,
        token_hash=hash_token(token),
        created_by=signed_in(actor),
        expires_at=timezone.now() + invitation_ttl(),
    )
    _announce(
        request,
        team=team,
        action="invitation.created",
        obj=invitation,
        actor=actor,
        summary=f"{actor} invited someone as {role.label.lower()}",
        data={
            "role": role.label.lower(),
            "expires_at": invitation.expires_at.isoformat(),
        },
    )
    return invitation, token


def find_invitation(token: str) -> Invitation | None:
    """Return the invitation with this token, whatever its state, or None."""
    if not token or len(token) > 200:
        return None
    return (
        Invitation.objects.select_related("team")
        .filter(token_hash=hash_token(token))
        .first()
    )


def invitation_problem(
    invitation: Invitation, user: User | AnonymousUser | None = None
) -> str | None:
    """Return why the invitation cannot be accepted (by `user`), or None if it can."""
    status = invitation.status
    if status == "accepted":
        return "This invitation has already been used. Ask a team admin for a new one."
    if status == "revoked":
        return "This invitation was revoked by a team admin."
    if status == "expired":
        return "This invitation has expired. Ask a team admin for a new one."
    if (
        user is not None
        and user.is_authenticated
        and Membership.objects.filter(team=invitation.team, user=user).exists()
    ):
        return f"You are already a member of {invitation.team.name}."
    return None


@transaction.atomic
def accept_invitation(
    invitation: Invitation,
    user: User | AnonymousUser,
    *,
    request: HttpRequest | None = None,
) -> Membership:
    """Make `user` a member with the invited role, consuming the invitation.

    Raises:
        InvitationError: expired, used, revoked, or the user is already a member.
    """
    problem = invitation_problem(invitation, user)
    if problem:
        raise InvitationError(problem)
    if not isinstance(user, User):
        raise InvitationError("Log in to accept this invitation.")
    now = timezone.now()
    claimed = Invitation.objects.filter(
        pk=invitation.pk,
        accepted_at__isnull=True,
        revoked_at__isnull=True,
        expires_at__gt=now,
    ).update(accepted_at=now, accepted_by=user)
    if claimed != 1:
        # Someone else used it between our check and the claim.
        raise InvitationError("This invitation has already been used.")
    invitation.refresh_from_db()
    membership = Membership.objects.create(
        team=invitation.team, user=user, role=invitation.role
    )
    _announce(
        request,
        team=invitation.team,
        action="invitation.accepted",
        obj=membership,
        actor=user,
        summary=f"{user} joined as {membership.get_role_display().lower()}",
        data={
            "invitation_id": invitation.pk,
            "role": membership.get_role_display().lower(),
        },
    )
    return membership


@transaction.atomic
def revoke_invitation(
    invitation: Invitation,
    actor: User | AnonymousUser | None,
    *,
    request: HttpRequest | None = None,
) -> Invitation:
    """Revoke a pending invitation.

    Raises:
        InvitationError: it was already used or revoked.
    """
    if invitation.accepted_at is not None:
        raise InvitationError(
            "This invitation has already been used; remove the member instead."
        )
    if invitation.revoked_at is not None:
        raise InvitationError("This invitation is already revoked.")
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at"])
    _announce(
        request,
        team=invitation.team,
        action="invitation.revoked",
        obj=invitation,
        actor=actor,
        summary=f"{actor} revoked invitation #{invitation.pk}",
    )
    return invitation


def _other_admins_exist(membership: Membership) -> bool:
    # Lock every admin row of the team (same order in every transaction) so two admins
    # demoting each other at once are serialised instead of both succeeding.
    admins = (
        Membership.objects.select_for_update()
        .filter(team_id=membership.team_id, role=Role.ADMIN)
        .order_by("pk")
    )
    return any(admin.pk != membership.pk for admin in admins)


@transaction.atomic
def change_role(
    membership: Membership,
    new_role: Role | int,
    actor: User | AnonymousUser | None,
    *,
    request: HttpRequest | None = None,
) -> Membership:
    """Give a member another role.

    Raises:
        LastAdminError: this would leave the team without an admin.
    """
    new_role = Role(new_role)
    old_role = Role(membership.role)
    if new_role == old_role:
        return membership
    if old_role == Role.ADMIN and not _other_admins_exist(membership):
        raise LastAdminError(
            f"{membership.user} is the last admin of {membership.team.name}; "
            "make someone else an admin first."
        )
    membership.role = new_role
    membership.save(update_fields=["role"])
    _announce(
        request,
        team=membership.team,
        action="membership.role_changed",
        obj=membership,
        actor=actor,
        summary=f"{actor} changed {membership.user}'s role from "
        f"{old_role.label.lower()} to {new_role.label.lower()}",
        data={"from": old_role.label.lower(), "to": new_role.label.lower()},
    )
    return membership


@transaction.atomic
def remove_member(
    membership: Membership,
    actor: User | AnonymousUser | None,
    *,
    request: HttpRequest | None = None,
) -> None:
    """Remove a member from the team.

    Raises:
        LastAdminError: the member is the team's last admin.
    """
    if membership.role == Role.ADMIN and not _other_admins_exist(membership):
        raise LastAdminError(
            f"{membership.user} is the last admin of {membership.team.name} and cannot be removed."
        )
    team, user = membership.team, membership.user
    data = {
        "user_id": user.pk,
        "username": user.get_username(),
        "role": membership.get_role_display().lower(),
    }
    _announce(
        request,
        team=team,
        action="membership.removed",
        obj=membership,
        actor=actor,
        summary=f"{actor} removed {user} from the team",
        data=data,
    )
    membership.delete()


def change_team_time_zone(
    team: Team, name: str, actor: User, *, request: HttpRequest | None = None
) -> None:
    """Set the team's default time zone (audited).

    Raises:
        TimeZoneError: `name` is not a time zone.
    """
    before = team.time_zone
    set_team_zone(team, name)
    if team.time_zone != before:
        _announce(
            request,
            team=team,
            action="team.time_zone_changed",
            obj=team,
            actor=actor,
            summary=f"{actor} set the team's time zone to {team.time_zone}",
            data={"before": before, "after": team.time_zone},
        )
