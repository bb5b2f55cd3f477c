"""Sending one alert message to one channel: email, Slack, Microsoft Teams, signed JSON webhook.

Webhook URLs carry credentials (Slack and Teams put the token in the path), so a URL is only
decrypted here, right before the call, and never appears in an error, a log line or a page:
errors name the channel and what went wrong (timeout, refused, HTTP status), nothing more.

The generic webhook is signed like Stripe's: header `Workroom-Signature: t=<unix ts>,v1=<hex>`
where hex = HMAC-SHA256(secret, "<ts>.<raw body>"); README.md shows how to verify it.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from dashboard.alerts.models import Channel
from dashboard.lib import redact, secretbox
from dashboard.lib.errors import WorkroomError

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
SIGNATURE_HEADER = "Workroom-Signature"
# A URL path this long is masked in logs as a secret (Slack's /services/T…/B…/…); shorter ones
# ("/webhook") carry no token and masking them would hide unrelated log text.
MIN_SECRET_PATH = 20


class ChannelError(WorkroomError):
    """A channel could not be configured; `message` is safe to show."""


class DeliveryFailed(WorkroomError):
    """A message was not delivered; `message` is safe to show and log (no URL, no secret).
    `retryable` is False when trying again cannot help (bad configuration, 4xx)."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class Message:
    """What an alert says, whatever the channel."""

    kind: str  # opened | reminder | recovered | digest
    subject: str
    title: str
    detail: str
    link: str
    team: str
    rule: str
    event_id: str  # stable id of the message: receivers drop duplicates by it

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.event_id,
            "kind": self.kind,
            "team": self.team,
            "rule": self.rule,
            "title": self.title,
            "detail": self.detail,
            "link": self.link,
        }


# --- configuration ------------------------------------------------------------------------------


def validate_url(url: str) -> str:
    """Return the webhook URL if Workroom may call it; raise ChannelError saying why not.

    https to a public host; plain http (or a private address) only to this machine when
    WORKROOM_ALLOW_HTTP_LOOPBACK is on (tests, the development receiver).
    """
    url = url.strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError:
        raise ChannelError("This is not a valid URL.") from None
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        raise ChannelError("Enter a full URL starting with https://.")
    if parts.username or parts.password:
        raise ChannelError("The URL must not contain a user name or password.")
    loopback_ok = settings.WORKROOM_ALLOW_HTTP_LOOPBACK and host in LOOPBACK_HOSTS
    if parts.scheme == "http" and not loopback_ok:
        raise ChannelError(
            "The URL must use https:// (plain http is only allowed to this machine when "
            "WORKROOM_ALLOW_HTTP_LOOPBACK is on)."
        )
    if not loopback_ok and _is_internal(host):
        raise ChannelError("The URL points at a local or private address.")
    return url


def _is_internal(host: str) -> bool:
    if host in LOOPBACK_HOSTS:
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return not address.is_global


def url_hint(url: str) -> str:
    """What may be shown of a stored URL: its scheme and host."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}/…"


def new_signing_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def store_url(channel: Channel, url: str) -> None:
    channel.url_ciphertext = secretbox.encrypt(
        validate_url(url), context=channel.url_context
    )
    channel.url_hint = url_hint(url)


def store_secret(channel: Channel, secret: str) -> None:
    channel.secret_ciphertext = secretbox.encrypt(
        secret, context=channel.secret_context
    )


def parse_addresses(text: str) -> list[str]:
    """Return the addresses of a comma/space/newline separated list (validated by the form)."""
    return [a for a in text.replace(",", " ").split() if a]


# --- signing ------------------------------------------------------------------------------------


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """Return the `Workroom-Signature` header value of `body` sent at `timestamp`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, body: bytes, header: str, *, tolerance: int = 300) -> bool:
    """Check a `Workroom-Signature` header (what a receiver does; used by the tests)."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(fields.get("t", ""))
    except ValueError:
        return False
    if abs(time.time() - timestamp) > tolerance:
        return False
    expected = sign(secret, body, timestamp).rpartition("v1=")[2]
    return hmac.compare_digest(expected, fields.get("v1", ""))


# --- sending ------------------------------------------------------------------------------------


def send(channel: Channel, message: Message, recipients: Sequence[str] = ()) -> None:
    """Send `message` through `channel` (email to `recipients`).

    Raises:
        DeliveryFailed: not delivered; `retryable` says whether trying later can help.
    """
    if channel.kind == Channel.Kind.EMAIL:
        send_email(message, recipients)
        return
    try:
        url = secretbox.decrypt(channel.url_ciphertext, context=channel.url_context)
    except secretbox.SecretUnavailable:
        raise DeliveryFailed(
            "The channel's URL cannot be decrypted; an admin must enter it again.",
            retryable=False,
        ) from None
    # Slack and Teams carry their token in the path, which urllib3's debug log prints.
    redact.register_secret(url)
    if len(path := urlsplit(url).path) >= MIN_SECRET_PATH:
        redact.register_secret(path)
    headers = {"Content-Type": "application/json", "User-Agent": "Workroom-Alerts"}
    if channel.kind == Channel.Kind.SLACK:
        body = json.dumps(slack_payload(message)).encode()
    elif channel.kind == Channel.Kind.TEAMS:
        body = json.dumps(teams_payload(message)).encode()
    else:
        body = json.dumps(message.as_json(), separators=(",", ":")).encode()
        try:
            secret = secretbox.decrypt(
                channel.secret_ciphertext, context=channel.secret_context
            )
        except secretbox.SecretUnavailable:
            raise DeliveryFailed(
                "The channel's signing secret cannot be decrypted; an admin must rotate it.",
                retryable=False,
            ) from None
        redact.register_secret(secret)
        headers[SIGNATURE_HEADER] = sign(secret, body, int(time.time()))
        headers["Workroom-Event-Id"] = message.event_id
    _post(url, body, headers)


def _post(url: str, body: bytes, headers: dict[str, str]) -> None:
    timeout = settings.WORKROOM_ALERT_HTTP_TIMEOUT
    try:
        validate_url(url)  # the loopback switch may have been turned off since
        response = requests.post(
            url,
            data=body,
            headers=headers,
            timeout=(timeout, timeout),
            allow_redirects=False,
        )
    except ChannelError as err:
        raise DeliveryFailed(err.message, retryable=False) from None
    except requests.Timeout:
        raise DeliveryFailed("The receiver did not answer in time.") from None
    except requests.RequestException:
        raise DeliveryFailed("The receiver could not be reached.") from None
    status = response.status_code
    if 200 <= status < 300:
        return
    retryable = status == 429 or status >= 500
    raise DeliveryFailed(f"The receiver answered HTTP {status}.", retryable=retryable)


def send_email(message: Message, recipients: Sequence[str]) -> None:
    if not recipients:
        return
    context = {"message": message}
    mail = EmailMultiAlternatives(
        subject=message.subject,
        body=render_to_string("alerts/email/alert.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=list(recipients),
    )
    mail.attach_alternative(
        render_to_string("alerts/email/alert.html", context), "text/html"
    )
    try:
        mail.send()
    except OSError as err:  # smtplib.SMTPException is an OSError
        raise DeliveryFailed(
            f"The mail server refused or failed: {type(err).__name__}."
        ) from None


_EMOJI = {"opened": "🔴", "reminder": "🟠", "recovered": "✅"}


def slack_escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn gives a meaning (&, <, >)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(message: Message) -> dict[str, Any]:
    """Slack incoming-webhook body: plain `text` (notifications) plus one section block."""
    subject, detail = slack_escape(message.subject), slack_escape(message.detail)
    headline = f"{_EMOJI.get(message.kind, '')} *{subject}*".strip()
    text = f"{headline}\n{detail}\n<{slack_escape(message.link)}|Open in Workroom>"
    return {
        "text": f"{subject} — {slack_escape(message.link)}",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
    }


def teams_payload(message: Message) -> dict[str, Any]:
    """Teams workflow ("When a Teams webhook request is received") body: an Adaptive Card."""
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {
                "type": "TextBlock",
                "text": message.subject,
                "weight": "Bolder",
                "wrap": True,
            },
            {"type": "TextBlock", "text": message.detail, "wrap": True},
            {
                "type": "TextBlock",
                "text": f"{message.team} · {message.rule}",
                "isSubtle": True,
            },
        ],
        "actions": [
            {"type": "Action.OpenUrl", "title": "Open in Workroom", "url": message.link}
        ],
    }
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }
