"""A personal token never outlives its owner's right: when the owner leaves the team or
drops below the token's role, the token is revoked."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from dashboard.accounts.models import Membership
from dashboard.api.models import ApiToken
from dashboard.api.tokens import revoke
from dashboard.audit.services import Actor


def _revoke_beyond(membership: Membership, role: int, why: str) -> None:
    for token in ApiToken.objects.filter(
        team_id=membership.team_id,
        owner_id=membership.user_id,
        kind=ApiToken.Kind.PERSONAL,
        revoked_at__isnull=True,
        role__gt=role,
    ):
        revoke(token, Actor(label="Workroom"), why=why)


@receiver(post_save, sender=Membership)
def _role_changed(sender: Any, instance: Membership, **kwargs: Any) -> None:
    _revoke_beyond(instance, instance.role, "its owner's role was lowered")


@receiver(post_delete, sender=Membership)
def _member_left(sender: Any, instance: Membership, **kwargs: Any) -> None:
    if ApiToken.objects.filter(principal_id=instance.user_id).exists():
        return  # a token's own principal
    _revoke_beyond(instance, 0, "its owner left the team")
