"""Teams, memberships with a role, and one-time invitations."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.db import models
from django.utils import timezone

# `User` is the user type of every signature (AUTH_USER_MODEL is Django's own User).
__all__ = [
    "Invitation",
    "Membership",
    "Role",
    "Team",
    "User",
    "UserPreferences",
    "signed_in",
]

DEFAULT_TIME_ZONE = "UTC"


def signed_in(user: User | AnonymousUser | None) -> User | None:
    """The user when signed in, else None (what a `created_by`-style column can hold)."""
    return user if isinstance(user, User) else None


class Role(models.IntegerChoices):
    """A member's role in a team; the integer order is the privilege order."""

    VIEWER = 10, "Viewer"
    OPERATOR = 20, "Operator"
    ADMIN = 30, "Admin"


class Team(models.Model):
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=120, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    # IANA name; the zone of members who have not chosen their own (accounts.timezones).
    time_zone = models.CharField(max_length=64, default=DEFAULT_TIME_ZONE)

    class Meta:
        ordering = ("name", "id")

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.PositiveSmallIntegerField(choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("team", "-role", "user__username")
        constraints = [
            models.UniqueConstraint(
                fields=("team", "user"), name="membership_team_user_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.get_role_display()})"

    @property
    def is_admin(self) -> bool:
        return self.role >= Role.ADMIN

    @property
    def is_operator(self) -> bool:
        return self.role >= Role.OPERATOR


class Invitation(models.Model):
    """A single-use invitation; only the SHA-256 of its token is stored."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="invitations")
    role = models.PositiveSmallIntegerField(choices=Role.choices, default=Role.VIEWER)
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="invitations_sent",
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="invitations_accepted",
    )
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at", "-id")

    def __str__(self) -> str:
        return f"Invitation #{self.pk} to {self.team} as {self.get_role_display()}"

    @property
    def status(self) -> str:
        """Return one of pending, accepted, revoked, expired."""
        if self.accepted_at is not None:
            return "accepted"
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= timezone.now():
            return "expired"
        return "pending"


class UserPreferences(models.Model):
    """What a person chose for themselves; a blank value means "the team's default"."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="preferences"
    )
    time_zone = models.CharField(max_length=64, blank=True)

    def __str__(self) -> str:
        return f"preferences of {self.user}"
