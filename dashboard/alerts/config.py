"""Changing alert configuration: rules, channels, mute, preferences, digest settings.

Shared by the views (and any future API): each change checks the actor's role when it happens
and is audited (`record_by`); channel secrets never reach the audit data.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from dashboard.accounts.models import Role, Team, User
from dashboard.accounts.permissions import require_role
from dashboard.alerts import channels, services
from dashboard.alerts.conditions import absolute
from dashboard.alerts.models import Channel, DigestSettings, Preference, Rule
from dashboard.audit.services import Actor, record_by


def _require(actor: Actor, team: Team, role: Role) -> None:
    if actor.user is None:
        raise PermissionDenied("Sign in first.")
    require_role(actor.user, team, role)


def _rule_data(rule: Rule) -> dict[str, Any]:
    return {
        "condition": rule.condition,
        "workspace_id": rule.workspace_id,
        "saved_view_id": rule.saved_view_id,
        "filter": rule.filter_query,
        "threshold": rule.threshold,
        "window_minutes": rule.window_minutes,
        "event_kind": rule.event_kind,
        "renotify_minutes": rule.renotify_minutes,
        "enabled": rule.enabled,
        "channels": sorted(rule.channels.values_list("pk", flat=True)),
    }


@transaction.atomic
def save_rule(
    actor: Actor, team: Team, rule: Rule, channel_list: list[Channel]
) -> Rule:
    """Create or update a rule (admins). A changed rule starts over: a new-group rule learns
    the current groups again on its next evaluation."""
    _require(actor, team, Role.ADMIN)
    created = rule.pk is None
    rule.team = team
    if created:
        rule.created_by = actor.user
    rule.baselined_at = None
    rule.last_error = ""
    rule.save()
    rule.channels.set([c for c in channel_list if c.team_id == team.pk])
    record_by(
        actor,
        team=team,
        action="alert_rule.create" if created else "alert_rule.update",
        obj=rule,
        summary=f"{'Created' if created else 'Changed'} alert rule {rule.name}",
        data=_rule_data(rule),
    )
    return rule


@transaction.atomic
def delete_rule(actor: Actor, rule: Rule) -> None:
    _require(actor, rule.team, Role.ADMIN)
    record_by(
        actor,
        team=rule.team,
        action="alert_rule.delete",
        obj=rule,
        summary=f"Deleted alert rule {rule.name}",
        data=_rule_data(rule),
    )
    rule.delete()


def mute_rule(actor: Actor, rule: Rule, until: datetime | None) -> None:
    """Mute (operators and admins) until a time, or unmute (`until` None)."""
    _require(actor, rule.team, Role.OPERATOR)
    services.mute(rule, until)
    record_by(
        actor,
        team=rule.team,
        action="alert_rule.mute" if until else "alert_rule.unmute",
        obj=rule,
        summary=(
            f"Muted alert rule {rule.name} until {until:%Y-%m-%d %H:%M} UTC"
            if until
            else f"Unmuted alert rule {rule.name}"
        ),
    )


@transaction.atomic
def save_channel(
    actor: Actor,
    team: Team,
    channel: Channel,
    *,
    url: str = "",
) -> str:
    """Create or update a channel (admins); return the new signing secret of a webhook
    channel just created ("" otherwise): shown once, never again."""
    _require(actor, team, Role.ADMIN)
    created = channel.pk is None
    channel.team = team
    if created:
        channel.created_by = actor.user
    if url:
        channels.store_url(channel, url)
    secret = ""
    if created and channel.kind == Channel.Kind.WEBHOOK:
        secret = channels.new_signing_secret()
        channels.store_secret(channel, secret)
    channel.save()
    record_by(
        actor,
        team=team,
        action="alert_channel.create" if created else "alert_channel.update",
        obj=channel,
        summary=f"{'Created' if created else 'Changed'} alert channel {channel.name}"
        + (" (new URL)" if url and not created else ""),
        data={
            "kind": channel.kind,
            "url_hint": channel.url_hint,
            "enabled": channel.enabled,
        },
    )
    return secret


@transaction.atomic
def rotate_secret(actor: Actor, channel: Channel) -> str:
    """Give a webhook channel a new signing secret; return it (shown once)."""
    _require(actor, channel.team, Role.ADMIN)
    secret = channels.new_signing_secret()
    channels.store_secret(channel, secret)
    channel.save(update_fields=["secret_ciphertext"])
    record_by(
        actor,
        team=channel.team,
        action="alert_channel.rotate_secret",
        obj=channel,
        summary=f"New signing secret for alert channel {channel.name}",
    )
    return secret


@transaction.atomic
def delete_channel(actor: Actor, channel: Channel) -> None:
    _require(actor, channel.team, Role.ADMIN)
    record_by(
        actor,
        team=channel.team,
        action="alert_channel.delete",
        obj=channel,
        summary=f"Deleted alert channel {channel.name}",
        data={"kind": channel.kind, "url_hint": channel.url_hint},
    )
    channel.delete()


def save_digest_settings(actor: Actor, settings_row: DigestSettings) -> None:
    _require(actor, settings_row.team, Role.ADMIN)
    settings_row.save()
    record_by(
        actor,
        team=settings_row.team,
        action="alert_digest.update",
        summary=(
            f"Daily digest {'on' if settings_row.enabled else 'off'}, at "
            f"{settings_row.hour_utc:02d}:00 UTC"
        ),
    )


def preferences_for(user: User) -> list[Preference]:
    """The user's preferences, one per team they belong to (unsaved defaults included)."""
    saved = {p.team_id: p for p in Preference.objects.filter(user=user)}
    teams = Team.objects.filter(memberships__user=user).order_by("name")
    return [saved.get(t.pk) or Preference(user=user, team=t) for t in teams]


def save_preference(preference: Preference, mute_hours: int | None) -> None:
    """Save the user's own preferences of one team; `mute_hours` 0 unmutes, None keeps."""
    if mute_hours == 0:
        preference.muted_until = None
    elif mute_hours:
        preference.muted_until = timezone.now() + timedelta(hours=mute_hours)
    preference.save()


def send_test(actor: Actor, channel: Channel) -> str:
    """Send a test message through the channel now (admins); return what happened, to show.

    An email channel mails the admin alone (never the team)."""
    _require(actor, channel.team, Role.ADMIN)
    link = absolute(reverse("alerts-channel-edit", args=[channel.pk]))
    message = channels.Message(
        kind="test",
        subject=f"[Workroom] Test message of channel {channel.name}",
        title=f"Test message of channel {channel.name}",
        detail="If you read this, Workroom's alerts reach this channel.",
        link=link,
        team=channel.team.name,
        rule="(test)",
        event_id=f"test-{channel.pk}-{uuid.uuid4().hex[:12]}",
    )
    recipients = (
        [actor.user.email] if actor.user is not None and actor.user.email else []
    )
    if channel.kind == Channel.Kind.EMAIL and not recipients:
        return "Your account has no email address: add one to receive the test mail."
    try:
        channels.send(channel, message, recipients)
    except channels.DeliveryFailed as err:
        return f"Not delivered: {err.message}"
    record_by(
        actor,
        team=channel.team,
        action="alert_channel.test",
        obj=channel,
        summary=f"Sent a test message through alert channel {channel.name}",
    )
    return "Test message sent" + (f" to {recipients[0]}." if recipients else ".")
