"""API tokens and the answers stored for Idempotency-Key replays.

A token acts through a principal: a user of its own, without a password, that is a member of
the token's team with the token's role. Every rule below (Scope, `actions.apply`'s role
check at each action, bulk confirm and its chunks) sees that user, so a token can do exactly
what a member with its role can do and nothing else; revoking a token removes the
principal's membership, which stops even a bulk operation it confirmed.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from dashboard.accounts.models import Role, Team

TOKEN_ROLES = [(Role.VIEWER.value, "Viewer"), (Role.OPERATOR.value, "Operator")]


class ApiToken(models.Model):
    class Kind(models.TextChoices):
        PERSONAL = "personal", "Personal"
        SERVICE = "service", "Team service"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=60)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    role = models.PositiveSmallIntegerField(choices=TOKEN_ROLES)
    # The public part of the value (`wr_<prefix>_<secret>`): finds the row in one lookup.
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64)  # sha256 hex of the whole value
    principal = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_token"
    )
    # The person a personal token belongs to (its rights never exceed theirs); the creator
    # of a service token.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
    )
    created_by_label = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("team", "-created_at", "-id")

    def __str__(self) -> str:
        return f"token {self.name}"

    @property
    def status(self) -> str:
        """Return one of active, revoked, expired."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= timezone.now():
            return "expired"
        return "active"

    @property
    def can_act(self) -> bool:
        return self.role >= Role.OPERATOR


class IdempotentAnswer(models.Model):
    """The answer to one POST made with an Idempotency-Key, kept to be replayed."""

    token = models.ForeignKey(ApiToken, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=200)
    request_hash = models.CharField(max_length=64)  # method, path and body
    status = models.PositiveSmallIntegerField(null=True)  # None: still being answered
    content_type = models.CharField(max_length=100, blank=True)
    body = models.BinaryField(default=b"")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=("token", "key"), name="api_idem_token_key")
        ]

    def __str__(self) -> str:
        return f"Idempotency-Key {self.key} of token #{self.token_id}"
