"""Rules for Control Room workspaces and their API keys.

The decrypted key exists only inside `build_client` / `_verify` and the client they
return; it is registered with the log redactor, kept out of exception text, audit
data, forms and templates (ARCHITECTURE.md "Credentials and access").
"""

from __future__ import annotations

import hmac
import ipaddress
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from dashboard.accounts.models import Team, User, signed_in
from dashboard.audit.services import record
from dashboard.lib import redact, secretbox
from dashboard.lib.errors import WorkroomError
from dashboard.workspaces.errors import describe
from dashboard.workspaces.models import Workspace
from robocorp_api.client import ControlRoomClient
from robocorp_api.errors import ControlRoomError
from robocorp_api.models import Workspace as CRWorkspace

CLOUD_BASE_URL = "https://cloud.robocorp.com/api/v1"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class WorkspaceError(WorkroomError):
    """A workspace could not be added or changed; `message` is safe to show."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Verified:
    cr_workspace: CRWorkspace
    permissions: dict[str, bool | None]
    probe_error: str


def workspaces_for_team(team: Team) -> QuerySet[Workspace]:
    return Workspace.objects.filter(team=team).order_by("name", "id")


# --- base URL --------------------------------------------------------------------------


def sso_base_url(tenant: str) -> str:
    """Return the v1 base URL of an SSO tenant (API.md §1.1)."""
    tenant = tenant.strip().lower()
    label_ok = tenant and len(tenant) <= 63 and tenant.replace("-", "").isalnum()
    if not label_ok or tenant.startswith("-") or tenant.endswith("-"):
        raise WorkspaceError(
            "The SSO subdomain is the first label of your Control Room address, e.g. 'acme' "
            "for https://acme.robocorp.com.",
            field="sso_tenant",
        )
    return f"https://{tenant}.robocorp.com/api/v1"


def _extra_hosts() -> set[str]:
    return {h.strip().lower() for h in settings.WORKROOM_EXTRA_API_HOSTS if h.strip()}


def _host_allowed(host: str, port: int | None) -> bool:
    extra = _extra_hosts()
    if host in extra or (port is not None and f"{host}:{port}" in extra):
        return True
    if host == "robocorp.com" or not host.endswith(".robocorp.com"):
        return False
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return True
    return False


_HOST_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


def _valid_host(host: str) -> bool:
    """True for an IP address or a DNS name whose labels are all well-formed (RFC 1123)."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    else:
        return True
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    labels = ascii_host.split(".")
    return len(ascii_host) <= 253 and all(_HOST_LABEL.fullmatch(x) for x in labels)


def validate_base_url(url: str) -> str:
    """Return the normalised v1 API base URL, or raise WorkspaceError saying what is wrong.

    Allowed: https on a *.robocorp.com host or a host in WORKROOM_EXTRA_API_HOSTS;
    plain http only to loopback when WORKROOM_ALLOW_HTTP_LOOPBACK is on (the emulator).
    """
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise WorkspaceError("This is not a valid URL.", field="custom_url") from None
    host = (parts.hostname or "").lower()
    if not host or parts.scheme not in ("http", "https"):
        raise WorkspaceError(
            "Enter a full URL starting with https://.", field="custom_url"
        )
    if not _valid_host(host):
        raise WorkspaceError(
            "The host name of this URL is not valid (each dot-separated part must be "
            "1-63 letters, digits or hyphens).",
            field="custom_url",
        )
    if parts.username or parts.password or parts.query or parts.fragment:
        raise WorkspaceError(
            "The API URL must not contain credentials, a query or a fragment.",
            field="custom_url",
        )
    if parts.scheme == "http":
        loopback_ok = settings.WORKROOM_ALLOW_HTTP_LOOPBACK
        if not (loopback_ok and host in LOOPBACK_HOSTS):
            raise WorkspaceError(
                "The API URL must use https:// (plain http is only allowed to this machine "
                "when WORKROOM_ALLOW_HTTP_LOOPBACK is on).",
                field="custom_url",
            )
    elif not _host_allowed(host, port):
        raise WorkspaceError(
            f"{host} is not a Control Room host. Use a *.robocorp.com address, or ask the "
            "operator to add the host to WORKROOM_EXTRA_API_HOSTS.",
            field="custom_url",
        )
    path = parts.path.rstrip("/")
    if not path.endswith("/api/v1"):
        raise WorkspaceError(
            "The API URL must end with /api/v1, e.g. https://cloud.robocorp.com/api/v1.",
            field="custom_url",
        )
    return urlunsplit((parts.scheme, parts.netloc.lower(), path, "", ""))


# --- client ----------------------------------------------------------------------------


@sensitive_variables("api_key")
def build_client(workspace: Workspace, **kwargs: Any) -> ControlRoomClient:
    """Return a client for the workspace; the key is decrypted here and nowhere else.

    Raises:
        secretbox.SecretUnavailable: the stored key cannot be decrypted.
    """
    api_key = secretbox.decrypt(
        workspace.api_key_ciphertext, context=str(workspace.uid)
    )
    redact.register_secret(api_key)
    return ControlRoomClient(
        api_key,
        workspace_id=workspace.cr_workspace_id,
        base_url=workspace.base_url,
        **kwargs,
    )


def _describe_verification(err: ControlRoomError, cr_workspace_id: str) -> str:
    return describe(
        err,
        needs=f"to read workspace {cr_workspace_id} (is the key from this workspace?)",
        thing=f"workspace {cr_workspace_id} at this API URL",
    )


@sensitive_variables("api_key")
def _verify(api_key: str, *, base_url: str, cr_workspace_id: str) -> Verified:
    """Check the key against Control Room and probe what it may do."""
    if not api_key or any(ch.isspace() for ch in api_key):
        raise WorkspaceError(
            "Paste the API key without spaces or line breaks.", field="api_key"
        )
    redact.register_secret(api_key)
    client = ControlRoomClient(
        api_key, workspace_id=cr_workspace_id, base_url=base_url, max_retries=1
    )
    try:
        cr_workspace = client.workspace.get()
    except ControlRoomError as err:
        raise WorkspaceError(
            f"{_describe_verification(err, cr_workspace_id)} Nothing was saved.",
            field="api_key",
        ) from None
    try:
        permissions, probe_error = client.probe_permissions(), ""
    except ControlRoomError as err:
        permissions = {}
        probe_error = f"Could not probe the key's permissions: {_describe_verification(err, cr_workspace_id)}"
    return Verified(cr_workspace, permissions, probe_error)


@sensitive_variables("api_key")
def _verify_or_record(
    api_key: str,
    *,
    base_url: str,
    cr_workspace_id: str,
    team: Team,
    actor: User | AnonymousUser | None,
    request: HttpRequest | None,
    workspace: Workspace | None = None,
) -> Verified:
    """Verify the key; a key Control Room refuses is recorded in the audit trail (hint only)."""
    try:
        return _verify(api_key, base_url=base_url, cr_workspace_id=cr_workspace_id)
    except WorkspaceError as err:
        record(
            request,
            team=team,
            action="workspace.key_rejected",
            obj=workspace,
            actor=actor,
            summary=f"A key for {cr_workspace_id} was not accepted: {err.message}",
            data={
                "base_url": base_url,
                "cr_workspace_id": cr_workspace_id,
                "key_hint": api_key[-4:],
            },
        )
        raise


def _encrypt_into(workspace: Workspace, api_key: str) -> None:
    workspace.api_key_ciphertext = secretbox.encrypt(
        api_key, context=str(workspace.uid)
    )
    workspace.api_key_key_id = secretbox.key_id_of(workspace.api_key_ciphertext)
    workspace.api_key_hint = api_key[-4:]


def _apply_verification(workspace: Workspace, verified: Verified) -> None:
    workspace.permissions = verified.permissions
    workspace.verified_at = timezone.now()
    workspace.last_error = verified.probe_error[:500]
    workspace.needs_attention = bool(verified.probe_error)


@sensitive_variables("api_key")
def add_workspace(
    team: Team,
    actor: User | AnonymousUser | None,
    *,
    name: str,
    base_url: str,
    cr_workspace_id: str,
    api_key: str,
    request: HttpRequest | None = None,
) -> Workspace:
    """Verify the key, probe its permissions, and store the workspace with the key encrypted.

    Raises:
        WorkspaceError: bad URL, duplicate workspace, or Control Room refused the key.
    """
    name, cr_workspace_id = name.strip(), cr_workspace_id.strip()
    if not name:
        raise WorkspaceError("Give the workspace a name.", field="name")
    if not cr_workspace_id or "/" in cr_workspace_id:
        raise WorkspaceError(
            "Enter the workspace id from Control Room.", field="cr_workspace_id"
        )
    base_url = validate_base_url(base_url)
    if Workspace.objects.filter(team=team, cr_workspace_id=cr_workspace_id).exists():
        raise WorkspaceError(
            "This team already has this Control Room workspace.",
            field="cr_workspace_id",
        )
    verified = _verify_or_record(
        api_key,
        base_url=base_url,
        cr_workspace_id=cr_workspace_id,
        team=team,
        actor=actor,
        request=request,
    )
    workspace = Workspace(
        team=team,
        name=name,
        base_url=base_url,
        cr_workspace_id=cr_workspace_id,
        created_by=signed_in(actor),
    )
    _encrypt_into(workspace, api_key)
    _apply_verification(workspace, verified)
    try:
        with transaction.atomic():
            workspace.save()
            record(
                request,
                team=team,
                action="workspace.created",
                obj=workspace,
                actor=actor,
                summary=f"Added workspace {workspace.name} (key {workspace.key_fingerprint})",
                data=_audit_data(workspace),
            )
    except IntegrityError:
        raise WorkspaceError(
            "This team already has this Control Room workspace.",
            field="cr_workspace_id",
        ) from None
    return workspace


def _audit_data(workspace: Workspace) -> dict[str, Any]:
    return {
        "base_url": workspace.base_url,
        "cr_workspace_id": workspace.cr_workspace_id,
        "key_hint": workspace.api_key_hint,
        "permissions": workspace.permissions,
    }


@sensitive_variables("api_key")
def replace_key(
    workspace: Workspace,
    actor: User | AnonymousUser | None,
    *,
    api_key: str,
    request: HttpRequest | None = None,
) -> Workspace:
    """Swap in a new key after verifying and probing it; the old key stays if it fails.

    Raises:
        WorkspaceError: Control Room refused the new key.
    """
    verified = _verify_or_record(
        api_key,
        base_url=workspace.base_url,
        cr_workspace_id=workspace.cr_workspace_id,
        team=workspace.team,
        actor=actor,
        request=request,
        workspace=workspace,
    )
    old_hint = workspace.api_key_hint
    _encrypt_into(workspace, api_key)
    _apply_verification(workspace, verified)
    with transaction.atomic():
        workspace.save()
        record(
            request,
            team=workspace.team,
            action="workspace.key_replaced",
            obj=workspace,
            actor=actor,
            summary=f"Replaced the key of {workspace.name} (••••{old_hint} → {workspace.key_fingerprint})",
            data={**_audit_data(workspace), "old_key_hint": old_hint},
        )
    return workspace


def reprobe(
    workspace: Workspace,
    actor: User | AnonymousUser | None,
    *,
    request: HttpRequest | None = None,
) -> Workspace:
    """Re-check the stored key and refresh the permission table.

    A failure is stored on the workspace (last_error, needs_attention), not raised.
    """
    try:
        client = build_client(workspace, max_retries=1)
        client.workspace.get()
        workspace.permissions = client.probe_permissions()
        workspace.verified_at = timezone.now()
        workspace.last_error = ""
        workspace.needs_attention = False
    except secretbox.SecretUnavailable:
        workspace.last_error = "The stored key cannot be decrypted; replace the key."
        workspace.needs_attention = True
    except ControlRoomError as err:
        workspace.last_error = _describe_verification(err, workspace.cr_workspace_id)
        workspace.needs_attention = True
    with transaction.atomic():
        workspace.save()
        record(
            request,
            team=workspace.team,
            action="workspace.reprobed",
            obj=workspace,
            actor=actor,
            summary=f"Re-checked the key of {workspace.name}: "
            + (workspace.last_error or "verified"),
            data={"permissions": workspace.permissions, "error": workspace.last_error},
        )
    return workspace


def set_enabled(
    workspace: Workspace,
    actor: User | AnonymousUser | None,
    *,
    enabled: bool,
    request: HttpRequest | None = None,
) -> Workspace:
    """Enable or disable syncing and actions for the workspace."""
    if workspace.enabled == enabled:
        return workspace
    with transaction.atomic():
        workspace.enabled = enabled
        workspace.save(update_fields=["enabled", "updated_at"])
        verb = "Enabled" if enabled else "Disabled"
        record(
            request,
            team=workspace.team,
            action="workspace.enabled" if enabled else "workspace.disabled",
            obj=workspace,
            actor=actor,
            summary=f"{verb} workspace {workspace.name}",
        )
    return workspace


@transaction.atomic
def delete_workspace(
    workspace: Workspace,
    actor: User | AnonymousUser | None,
    *,
    request: HttpRequest | None = None,
) -> None:
    """Delete the workspace, its key and every mirrored row of it (nothing changes in Control Room)."""
    record(
        request,
        team=workspace.team,
        action="workspace.deleted",
        obj=workspace,
        actor=actor,
        summary=f"Deleted workspace {workspace.name} (key {workspace.key_fingerprint})",
        data={
            "base_url": workspace.base_url,
            "cr_workspace_id": workspace.cr_workspace_id,
        },
    )
    workspace.delete()


@sensitive_variables("api_key", "stored")
def key_matches(workspace: Workspace, api_key: str) -> bool:
    """Return True if the stored key equals `api_key` (False if it cannot be decrypted)."""
    try:
        stored = secretbox.decrypt(
            workspace.api_key_ciphertext, context=str(workspace.uid)
        )
    except secretbox.SecretUnavailable:
        return False
    return hmac.compare_digest(stored.encode(), api_key.encode())
