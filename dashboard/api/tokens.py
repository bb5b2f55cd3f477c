"""Creating, checking and revoking API tokens.

A token's value is `wr_<prefix>_<secret>`; only the SHA-256 of the whole value is stored, with
the prefix in clear so one indexed lookup finds the row. The value is shown once, at creation.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from dashboard.accounts.models import Membership, Role, Team, User
from dashboard.api.models import ApiToken
from dashboard.audit.services import Actor, record_by
from dashboard.lib.errors import WorkroomError

PREFIX = "wr_"
LAST_USED_EVERY = timedelta(minutes=1)


class TokenError(WorkroomError):
    """A token that cannot be created, revoked or used; `message` says why."""


@dataclass(frozen=True)
class NewToken:
    token: ApiToken
    value: str  # shown once, never stored


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _role_of(user: User, team: Team) -> int:
    role = (
        Membership.objects.filter(team=team, user=user)
        .values_list("role", flat=True)
        .first()
    )
    return role or 0


def create_token(
    team: Team,
    user: User,
    actor: Actor,
    *,
    name: str,
    kind: str,
    role: int,
    expires_at: datetime | None = None,
) -> NewToken:
    """Create a token in `team` for `user` (personal) or for the team (service, admins only).

    Raises:
        TokenError: no name, an unknown kind or role, a role above the creator's own, a
            service token asked by a non-admin, or an expiry in the past.
    """
    name = (name or "").strip()
    if not name or len(name) > 60:
        raise TokenError("Give the token a name of 1 to 60 characters.")
    if kind not in ApiToken.Kind.values:
        raise TokenError(f"Unknown token kind {kind!r}.")
    if role not in (Role.VIEWER, Role.OPERATOR):
        raise TokenError("A token is a viewer or an operator; nothing more.")
    own = _role_of(user, team)
    if own < Role.VIEWER:
        raise TokenError(f"You are not a member of {team.name}.")
    if kind == ApiToken.Kind.SERVICE and own < Role.ADMIN:
        raise TokenError("Only team admins create team service tokens.")
    if role > own:
        raise TokenError("A token cannot have a higher role than yours.")
    if expires_at is not None and expires_at <= timezone.now():
        raise TokenError("The expiry must be in the future.")
    prefix = secrets.token_hex(4)
    value = f"{PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        principal = User(username=f"token {name} ({PREFIX}{prefix})", is_active=False)
        principal.set_unusable_password()
        principal.save()
        Membership.objects.create(team=team, user=principal, role=role)
        token = ApiToken.objects.create(
            team=team,
            name=name,
            kind=kind,
            role=role,
            prefix=prefix,
            secret_hash=_hash(value),
            principal=principal,
            owner=user,
            created_by_label=user.get_username(),
            expires_at=expires_at,
        )
        record_by(
            actor,
            team=team,
            action="api.token.create",
            obj=token,
            summary=f"Created {token.get_kind_display().lower()} token "
            f"{name} ({token.get_role_display().lower()})",
            data={"prefix": f"{PREFIX}{prefix}", "kind": kind, "role": role},
        )
    return NewToken(token, value)


def may_revoke(token: ApiToken, user: User) -> bool:
    """A token's owner revokes their personal token; a team admin revokes any."""
    if token.kind == ApiToken.Kind.PERSONAL and token.owner_id == user.pk:
        return True
    return _role_of(user, token.team) >= Role.ADMIN


def revoke(token: ApiToken, actor: Actor, *, why: str = "") -> bool:
    """Revoke the token and remove its principal from the team (stops what it started).

    Returns False when it was already revoked (revoking twice is harmless).
    """
    with transaction.atomic():
        changed = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        Membership.objects.filter(user_id=token.principal_id).delete()
        if changed:
            record_by(
                actor,
                team=token.team,
                action="api.token.revoke",
                obj=token,
                summary=f"Revoked token {token.name}" + (f" ({why})" if why else ""),
                data={"prefix": f"{PREFIX}{token.prefix}"},
            )
    token.refresh_from_db()
    return bool(changed)


def authenticate(value: str) -> ApiToken:
    """Return the active token of a presented value and note its use.

    Raises:
        TokenError: malformed, unknown, revoked, expired, or its owner lost the role.
    """
    parts = (value or "").split("_", 2)
    if len(parts) != 3 or f"{parts[0]}_" != PREFIX or not parts[1]:
        raise TokenError("The token is not a Workroom API token.")
    token = (
        ApiToken.objects.select_related("team", "principal")
        .filter(prefix=parts[1])
        .first()
    )
    if token is None or not hmac.compare_digest(token.secret_hash, _hash(value)):
        raise TokenError("The token is not valid.")
    if token.status != "active":
        raise TokenError(f"The token {token.name} is {token.status}.")
    if _role_of(token.principal, token.team) < Role.VIEWER:
        # An admin removed it on the members page: as good as revoked.
        raise TokenError(f"The token {token.name} is no longer a member of its team.")
    if token.kind == ApiToken.Kind.PERSONAL and (
        token.owner is None or _role_of(token.owner, token.team) < token.role
    ):
        raise TokenError(
            f"The token {token.name} is not valid: its owner no longer has its role."
        )
    _touch(token)
    return token


def _touch(token: ApiToken) -> None:
    """Record the use at most once a minute (one conditional UPDATE, not one per call)."""
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_EVERY:
        ApiToken.objects.filter(pk=token.pk).exclude(
            last_used_at__gt=now - LAST_USED_EVERY
        ).update(last_used_at=now)
        token.last_used_at = now


def tokens_of(team: Team, user: User) -> list[ApiToken]:
    """Return the tokens a member sees on the team's token page: an admin sees every token,
    others their own personal ones."""
    tokens = ApiToken.objects.filter(team=team).select_related("owner")
    if _role_of(user, team) < Role.ADMIN:
        tokens = tokens.filter(kind=ApiToken.Kind.PERSONAL, owner=user)
    return list(tokens.order_by("-created_at", "-id"))
