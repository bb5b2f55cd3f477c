"""Adding, verifying, re-keying, disabling and deleting workspaces, against the real emulator."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from dashboard.audit.models import AuditEvent
from dashboard.lib import secretbox
from dashboard.workspaces import services
from dashboard.workspaces.models import Workspace
from tests.dashboard.factories import make_workspace_row

pytestmark = [pytest.mark.django_db, pytest.mark.emulator]

READ_ONLY = [
    "Processes.read_processes",
    "Processes.read_runs",
    "Processes.read_work_items",
]


def _add(team: Any, user: Any, emu: Any, api_key: str, **kw: Any) -> Workspace:
    return services.add_workspace(
        team,
        user,
        name=kw.pop("name", "Prod"),
        base_url=kw.pop("base_url", emu.api_base_url),
        cr_workspace_id=kw.pop("cr_workspace_id", emu.workspace_id),
        api_key=api_key,
        **kw,
    )


def test_it_verifies_encrypts_and_probes_a_full_key(team_a, alice, emu):
    workspace = _add(team_a, alice, emu, emu.api_key)
    stored = Workspace.objects.get(pk=workspace.pk)
    assert emu.api_key not in stored.api_key_ciphertext
    assert stored.api_key_ciphertext.startswith("v1:fernet:")
    assert stored.api_key_hint == emu.api_key[-4:]
    assert stored.api_key_key_id == secretbox.primary_key_id()
    assert (
        secretbox.decrypt(stored.api_key_ciphertext, context=str(stored.uid))
        == emu.api_key
    )
    assert stored.verified_at is not None and not stored.needs_attention
    assert all(row.allowed is True for row in stored.feature_table())
    event = AuditEvent.objects.get(action="workspace.created")
    assert event.data["key_hint"] == emu.api_key[-4:]
    assert emu.api_key not in repr(event.data) + event.summary + event.object_repr
    assert emu.api_key not in repr(stored) + str(stored)


def test_a_partial_key_shows_what_is_missing(team_a, alice, emu):
    key = emu.create_key(READ_ONLY)
    workspace = _add(team_a, alice, emu, key)
    table = {row.feature.slug: row for row in workspace.feature_table()}
    assert table["read_runs"].allowed is True and table["read_items"].allowed is True
    assert table["item_actions"].allowed is False
    assert table["item_actions"].missing == ("Processes.write_work_items",)
    assert table["start_stop"].missing == ("Processes.trigger_processes",)
    assert table["webhooks"].allowed is False
    assert workspace.allows("read_items") and not workspace.allows("upload")


def test_a_rejected_key_saves_nothing(team_a, alice, emu):
    with pytest.raises(
        services.WorkspaceError, match=r"rejected by Control Room \(401\)"
    ) as exc:
        _add(team_a, alice, emu, "definitely-not-a-valid-key-1234")
    assert exc.value.field == "api_key"
    assert "definitely-not-a-valid-key" not in exc.value.message
    assert not Workspace.objects.exists()
    event = AuditEvent.objects.get(action__startswith="workspace.")
    assert event.action == "workspace.key_rejected" and event.data["key_hint"] == "1234"
    assert "definitely-not" not in repr(event.data) + event.summary


def test_an_unknown_workspace_id_is_explained(team_a, alice, emu):
    with pytest.raises(services.WorkspaceError, match=r"\(40[34]\)"):
        _add(
            team_a,
            alice,
            emu,
            emu.api_key,
            cr_workspace_id="no-such-workspace",
        )
    assert not Workspace.objects.exists()


def test_an_unreachable_control_room_is_explained(team_a, alice, emu):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(services.WorkspaceError, match="Could not reach Control Room"):
        _add(
            team_a,
            alice,
            emu,
            emu.api_key,
            base_url=f"http://127.0.0.1:{port}/api/v1",
        )
    assert not Workspace.objects.exists()


def test_a_workspace_is_added_once_per_team(team_a, team_b, alice, charlie, emu):
    _add(team_a, alice, emu, emu.api_key)
    with pytest.raises(services.WorkspaceError, match="already has"):
        _add(team_a, alice, emu, emu.api_key)
    _add(team_b, charlie, emu, emu.api_key)  # another team may connect the same one
    assert Workspace.objects.count() == 2


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://cloud.robocorp.com/api/v1/", "https://cloud.robocorp.com/api/v1"),
        ("https://ACME.robocorp.com/api/v1", "https://acme.robocorp.com/api/v1"),
        ("http://127.0.0.1:8765/api/v1", "http://127.0.0.1:8765/api/v1"),
        ("http://localhost:8765/api/v1", "http://localhost:8765/api/v1"),
    ],
)
def test_it_accepts_control_room_urls(url, expected, settings):
    settings.WORKROOM_ALLOW_HTTP_LOOPBACK = True
    assert services.validate_base_url(url) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://cloud.robocorp.com/api/v1", "must use https"),
        ("https://evil.example.com/api/v1", "not a Control Room host"),
        ("https://robocorp.com.evil.example/api/v1", "not a Control Room host"),
        ("https://cloud.robocorp.com/v2", "must end with /api/v1"),
        ("https://user:pw@cloud.robocorp.com/api/v1", "credentials"),
        ("ftp://cloud.robocorp.com/api/v1", "https://"),
        ("not a url", "https://"),
        ("http://[::1/api/v1", "not a valid URL"),
        ("http://10.0.0.5:8765/api/v1", "must use https"),
    ],
)
def test_it_rejects_other_urls(url, message, settings):
    settings.WORKROOM_ALLOW_HTTP_LOOPBACK = True
    with pytest.raises(services.WorkspaceError, match=message):
        services.validate_base_url(url)


def test_http_loopback_needs_the_setting(settings):
    settings.WORKROOM_ALLOW_HTTP_LOOPBACK = False
    with pytest.raises(services.WorkspaceError, match="must use https"):
        services.validate_base_url("http://127.0.0.1:8765/api/v1")


def test_extra_hosts_are_allowed_over_https(settings):
    settings.WORKROOM_EXTRA_API_HOSTS = ["cr.internal.example:8443"]
    assert services.validate_base_url("https://cr.internal.example:8443/api/v1")
    with pytest.raises(services.WorkspaceError):
        services.validate_base_url("https://cr.internal.example:9999/api/v1")


def test_sso_tenant_url():
    assert services.sso_base_url(" Acme-EU ") == "https://acme-eu.robocorp.com/api/v1"
    for bad in ("", "a.b", "-x", "x/y", "evil.com#"):
        with pytest.raises(services.WorkspaceError):
            services.sso_base_url(bad)


def test_build_client_talks_to_control_room(workspace_a, emu):
    client = services.build_client(workspace_a)
    assert client.workspace.get().id == emu.workspace_id
    assert emu.api_key not in repr(client)


def test_a_ciphertext_copied_to_another_row_does_not_open(workspace_a, team_b):
    other = make_workspace_row(team_b)
    other.api_key_ciphertext = workspace_a.api_key_ciphertext
    with pytest.raises(secretbox.SecretUnavailable):
        services.build_client(other)


def test_replace_key_keeps_the_old_key_when_the_new_one_fails(workspace_a, alice, emu):
    before = workspace_a.api_key_ciphertext
    with pytest.raises(services.WorkspaceError, match="401"):
        services.replace_key(workspace_a, alice, api_key="wrong-key-abcdef")
    workspace_a.refresh_from_db()
    assert workspace_a.api_key_ciphertext == before


def test_replace_key_reprobes(workspace_a, alice, emu):
    new_key = emu.create_key(READ_ONLY)
    services.replace_key(workspace_a, alice, api_key=new_key)
    workspace_a.refresh_from_db()
    assert workspace_a.api_key_hint == new_key[-4:]
    assert services.key_matches(workspace_a, new_key)
    assert not workspace_a.allows("item_actions")
    event = AuditEvent.objects.get(action="workspace.key_replaced")
    assert event.data["old_key_hint"] == emu.api_key[-4:]
    assert new_key not in repr(event.data) + event.summary


def test_reprobe_flags_a_revoked_key(team_a, alice, emu):
    key = emu.create_key(READ_ONLY)
    workspace = _add(team_a, alice, emu, key)
    emu.store.keys.pop(key)
    services.reprobe(workspace, alice)
    workspace.refresh_from_db()
    assert workspace.needs_attention and "401" in workspace.last_error
    assert key not in workspace.last_error
    emu.store.keys[key] = frozenset({"read_processes"})
    services.reprobe(workspace, alice)
    again = Workspace.objects.get(pk=workspace.pk)
    assert not again.needs_attention and again.permissions["read_processes"] is True
    assert again.permissions["read_runs"] is False


def test_reprobe_flags_an_undecryptable_key(team_a, alice):
    workspace = make_workspace_row(team_a)
    Workspace.objects.filter(pk=workspace.pk).update(
        api_key_ciphertext="v1:fernet:gone:abc"
    )
    workspace.refresh_from_db()
    services.reprobe(workspace, alice)
    assert workspace.needs_attention and "cannot be decrypted" in workspace.last_error


def test_enable_disable_and_delete_are_audited(workspace_a, alice):
    services.set_enabled(workspace_a, alice, enabled=False)
    services.set_enabled(workspace_a, alice, enabled=False)  # no-op, no event
    assert not Workspace.objects.get(pk=workspace_a.pk).enabled
    services.set_enabled(workspace_a, alice, enabled=True)
    services.delete_workspace(workspace_a, alice)
    assert not Workspace.objects.exists()
    actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
    assert actions[-3:] == [
        "workspace.disabled",
        "workspace.enabled",
        "workspace.deleted",
    ]
