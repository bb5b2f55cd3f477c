"""Control Room webhooks: registering Workroom's receiver, and receiving deliveries.

A delivery is verified with `x-rc-signature` (lowercase hex HMAC-SHA256 of the raw body
with the webhook's secret, API.md §6), deduplicated by its event id (delivery is at least
once), and turned into a targeted sync of the run it names.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.debug import sensitive_variables

from dashboard.accounts.models import User
from dashboard.audit.services import record
from dashboard.lib import secretbox
from dashboard.lib.errors import WorkroomError
from dashboard.mirror import conf
from dashboard.mirror.models import (
    ProcessRun,
    SyncRun,
    WebhookEvent,
    WebhookRegistration,
)
from dashboard.mirror.services.syncruns import sync_request
from dashboard.workspaces.models import Workspace
from dashboard.workspaces.services import build_client
from robocorp_api.errors import (
    AmbiguousResult,
    ControlRoomError,
    NotFound,
    PermissionDenied,
)
from robocorp_api.models import WEBHOOK_EVENTS, Webhook

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
# Control Room's events are 3 levels deep; anything far deeper is not one of them.
MAX_DEPTH = 32


class WebhookRejected(WorkroomError):
    """A delivery that is not accepted; `status` is the HTTP answer, `message` safe to show."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class WebhookError(WorkroomError):
    """Registering or removing webhooks failed; `message` is safe to show."""


@dataclass(frozen=True)
class Received:
    duplicate: bool
    sync_run_id: int | None


# --- receiving ------------------------------------------------------------------------------


def signature_for(secret: str, body: bytes) -> str:
    """Return the `x-rc-signature` value Control Room sends for `body`."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@sensitive_variables("secret")
def _signature_valid(workspace: Workspace, body: bytes, signature: str) -> bool:
    signature = signature.strip().lower()
    valid = False
    for registration in WebhookRegistration.objects.filter(workspace=workspace):
        try:
            secret = secretbox.decrypt(
                registration.secret_ciphertext, context=registration.secret_context
            )
        except secretbox.SecretUnavailable:
            logger.warning("webhook secret of %r cannot be decrypted", registration)
            continue
        # Compare against every secret (no early exit) so timing says nothing about which matched.
        valid |= hmac.compare_digest(signature_for(secret, body), signature)
    return valid


def webhook_receive(*, workspace_uid: str, body: bytes, signature: str) -> Received:
    """Verify, deduplicate and act on one delivery.

    Raises:
        WebhookRejected: unknown workspace (404), bad signature (403), bad body (400/413).
    """
    workspace = (
        Workspace.objects.filter(uid=workspace_uid).select_related("team").first()
    )
    if workspace is None:
        raise WebhookRejected(404, "No such webhook receiver.")
    if len(body) > MAX_BODY_BYTES:
        raise WebhookRejected(413, "The webhook body is too large.")
    if not signature or not _signature_valid(workspace, body, signature):
        raise WebhookRejected(403, "The x-rc-signature header does not match.")
    event = _parse(body)
    _check_timestamp(workspace, event)
    run_ext = str(event["payload"].get("processRunId") or "")[:100]
    try:
        with transaction.atomic():
            stored = WebhookEvent.objects.create(
                workspace=workspace,
                event_id=event["id"],
                event=str(event.get("event") or "")[:100],
                process_run_external_id=run_ext,
            )
    except IntegrityError:
        return Received(duplicate=True, sync_run_id=None)
    if not workspace.enabled:
        return Received(duplicate=False, sync_run_id=None)
    if run_ext:
        ProcessRun.objects.filter(workspace=workspace, external_id=run_ext).update(
            needs_refresh=True, refresh_requested_at=timezone.now()
        )
    sync_run = sync_request(
        workspace=workspace, trigger=SyncRun.Trigger.WEBHOOK, run_external_id=run_ext
    )
    WebhookEvent.objects.filter(pk=stored.pk).update(sync_run=sync_run)
    return Received(duplicate=False, sync_run_id=sync_run.pk)


def nesting_depth(body: bytes) -> int:
    """Return the deepest nesting of JSON arrays/objects in ``body`` (strings are skipped).

    Counted before parsing: json.loads recurses once per level, so a deep enough body raises
    RecursionError deep inside the parser.
    """
    depth = deepest = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return deepest


def _parse(body: bytes) -> dict[str, Any]:
    if nesting_depth(body) > MAX_DEPTH:
        raise WebhookRejected(
            400, f"The webhook body is nested more than {MAX_DEPTH} levels deep."
        )
    try:
        event = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise WebhookRejected(400, "The webhook body is not JSON.") from None
    if (
        not isinstance(event, dict)
        or not isinstance(event.get("id"), str | int)
        or not str(event["id"])
    ):
        raise WebhookRejected(400, "The webhook body has no event id.")
    event["id"] = str(event["id"])[:200]
    if not isinstance(event.get("payload"), dict):
        event["payload"] = {}
    return event


def _check_timestamp(workspace: Workspace, event: dict[str, Any]) -> None:
    """Refuse a delivery whose `webhookEventTimestamp` is missing or outside the window.

    Event ids are remembered for a while only, so without a window a captured, correctly signed
    delivery could be replayed later.
    """
    raw = event.get("webhookEventTimestamp")
    try:
        when = parse_datetime(raw) if isinstance(raw, str) and len(raw) <= 64 else None
    except ValueError:  # well-formed but impossible, e.g. month 13
        when = None
    if when is None or timezone.is_naive(when):
        raise WebhookRejected(
            400, "The webhook body has no valid webhookEventTimestamp."
        )
    window = conf.webhook_max_age_seconds()
    skew = (timezone.now() - when).total_seconds()
    if abs(skew) > window:
        logger.warning(
            "webhook for workspace %s refused: event %s is %ds %s (window %ds)",
            workspace.pk,
            event["id"][:64],
            abs(skew),
            "old" if skew > 0 else "in the future",
            window,
        )
        raise WebhookRejected(
            400,
            f"The webhook event is older than {window} seconds or in the future; "
            "check that both clocks are right.",
        )


# --- registering ----------------------------------------------------------------------------


def registrations_for(workspace: Workspace) -> list[WebhookRegistration]:
    return list(
        WebhookRegistration.objects.filter(workspace=workspace).order_by(
            "created_at", "id"
        )
    )


def webhooks_register(
    workspace: Workspace,
    actor: User | AnonymousUser | None,
    *,
    endpoint: str,
    request: HttpRequest | None = None,
) -> list[WebhookRegistration]:
    """Register Workroom's receiver in Control Room for every process not covered yet.

    Control Room's v1 webhooks are per process (API.md §6), so this makes one per process.

    Raises:
        WebhookError: the key may not manage webhooks, or Control Room failed.
    """
    created: list[WebhookRegistration] = []
    covered = set(
        WebhookRegistration.objects.filter(
            workspace=workspace, endpoint=endpoint
        ).values_list("process_external_id", flat=True)
    )
    try:
        with build_client(workspace) as client:
            for process in client.processes.list():
                if process.id in covered:
                    continue
                hook = _create_hook(client, endpoint=endpoint, process_id=process.id)
                created.append(_store(workspace, hook, endpoint, process.id))
    except secretbox.SecretUnavailable:
        raise WebhookError(
            "The stored API key cannot be decrypted; replace the key first."
        ) from None
    except PermissionDenied:
        raise WebhookError(
            "The API key may not manage webhooks: it needs Webhooks.read_webhooks and "
            "Webhooks.write_webhooks."
        ) from None
    except ControlRoomError as err:
        raise WebhookError(
            f"Control Room refused to register the webhook: {err}"
        ) from None
    finally:
        if created:
            record(
                request,
                team=workspace.team,
                action="webhook.registered",
                obj=workspace,
                actor=actor,
                summary=f"Registered {len(created)} Control Room webhook(s) for {workspace.name}",
                data={
                    "endpoint": endpoint,
                    "processes": [r.process_external_id for r in created],
                },
            )
    return created


def _create_hook(client: Any, *, endpoint: str, process_id: str) -> Webhook:
    try:
        hook: Webhook = client.webhooks.create(
            endpoint=endpoint,
            enabled_events=list(WEBHOOK_EVENTS),
            process_id=process_id,
        )
    except AmbiguousResult:
        # The create may have happened: find it instead of making a second one.
        found = [
            h
            for h in client.webhooks.list()
            if h.endpoint == endpoint
            and h.process is not None
            and h.process.id == process_id
        ]
        if not found:
            raise
        hook = found[0]
    if not hook.secret:
        hook = client.webhooks.get(hook.id)
    if not hook.secret:
        raise WebhookError("Control Room did not return the webhook's signing secret.")
    return hook


@sensitive_variables("hook")
def _store(
    workspace: Workspace, hook: Webhook, endpoint: str, process_id: str
) -> WebhookRegistration:
    registration = WebhookRegistration(
        workspace=workspace,
        external_id=hook.id,
        process_external_id=process_id,
        endpoint=endpoint,
        enabled_events=list(hook.enabled_events),
    )
    registration.secret_ciphertext = secretbox.encrypt(
        hook.secret or "", context=registration.secret_context
    )
    registration.save()
    return registration


def webhooks_unregister(
    workspace: Workspace,
    actor: User | AnonymousUser | None,
    *,
    request: HttpRequest | None = None,
) -> int:
    """Delete Workroom's webhooks in Control Room and forget them; return how many.

    Raises:
        WebhookError: the key may not manage webhooks, or Control Room failed.
    """
    registrations = registrations_for(workspace)
    removed = 0
    try:
        with build_client(workspace) as client:
            for registration in registrations:
                with contextlib.suppress(NotFound):
                    client.webhooks.delete(registration.external_id)
                registration.delete()
                removed += 1
    except secretbox.SecretUnavailable:
        raise WebhookError(
            "The stored API key cannot be decrypted; replace the key first."
        ) from None
    except PermissionDenied:
        raise WebhookError(
            "The API key may not manage webhooks (Webhooks.write_webhooks)."
        ) from None
    except ControlRoomError as err:
        raise WebhookError(
            f"Control Room refused to remove the webhook: {err}"
        ) from None
    finally:
        if removed:
            record(
                request,
                team=workspace.team,
                action="webhook.unregistered",
                obj=workspace,
                actor=actor,
                summary=f"Removed {removed} Control Room webhook(s) of {workspace.name}",
            )
    return removed
