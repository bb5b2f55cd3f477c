"""Workspace pages: add with re-authentication, detail with the permission table, manage."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from dashboard.workspaces.models import Workspace
from tests.dashboard.factories import PASSWORD

pytestmark = [pytest.mark.django_db, pytest.mark.emulator]


def _form(emu: Any, **overrides: str) -> dict[str, str]:
    data = {
        "name": "Emulated",
        "base_url_choice": "custom",
        "custom_url": emu.api_base_url,
        "cr_workspace_id": emu.workspace_id,
        "api_key": emu.api_key,
        "password": PASSWORD,
    }
    return data | overrides


def test_admin_adds_a_workspace_and_sees_the_permission_table(
    client_for, team_a, alice, emu
):
    key = emu.create_key(["read_processes", "read_runs", "read_work_items"])
    admin = client_for(alice)
    response = admin.post(
        reverse("workspaces-add", args=[team_a.slug]), _form(emu, api_key=key)
    )
    workspace = Workspace.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("workspaces-detail", args=[workspace.pk])
    body = admin.get(response["Location"]).content.decode()
    assert 'data-feature="read_items"' in body and "✓" in body and "✗" in body
    assert (
        "Processes.write_work_items" in body and "Processes.trigger_processes" in body
    )
    assert f"••••{key[-4:]}" in body and key not in body


def test_a_wrong_password_stores_nothing(client_for, team_a, alice, emu):
    response = client_for(alice).post(
        reverse("workspaces-add", args=[team_a.slug]), _form(emu, password="nope")
    )
    body = response.content.decode()
    assert response.status_code == 400 and "not your password" in body
    assert emu.api_key not in body
    assert not Workspace.objects.exists()


def test_a_rejected_key_is_explained_and_not_echoed(client_for, team_a, alice, emu):
    bad_key = "rejected-canary-key-9876"
    response = client_for(alice).post(
        reverse("workspaces-add", args=[team_a.slug]), _form(emu, api_key=bad_key)
    )
    body = response.content.decode()
    assert response.status_code == 400
    assert "rejected by Control Room (401)" in body
    assert bad_key not in body and PASSWORD not in body
    assert not Workspace.objects.exists()


def test_a_foreign_custom_url_is_refused_before_any_request(
    client_for, team_a, alice, emu
):
    before = emu.stats.snapshot()
    response = client_for(alice).post(
        reverse("workspaces-add", args=[team_a.slug]),
        _form(emu, custom_url="https://evil.example.com/api/v1"),
    )
    assert (
        response.status_code == 400
        and "not a Control Room host" in response.content.decode()
    )
    assert emu.stats.snapshot() == before


def test_the_sso_choice_needs_a_tenant(client_for, team_a, alice, emu):
    response = client_for(alice).post(
        reverse("workspaces-add", args=[team_a.slug]),
        _form(emu, base_url_choice="sso", sso_tenant=""),
    )
    assert response.status_code == 400 and "SSO subdomain" in response.content.decode()


def test_viewer_sees_detail_without_admin_actions(client_for, workspace_a, carol):
    body = (
        client_for(carol)
        .get(reverse("workspaces-detail", args=[workspace_a.pk]))
        .content.decode()
    )
    assert "Production A" in body and 'id="permission-table"' in body
    assert reverse("workspaces-replace-key", args=[workspace_a.pk]) not in body
    assert reverse("workspaces-delete", args=[workspace_a.pk]) not in body


def test_replace_key_page_reverifies(client_for, workspace_a, alice, emu):
    new_key = emu.create_key(["read_processes", "read_runs"])
    url = reverse("workspaces-replace-key", args=[workspace_a.pk])
    admin = client_for(alice)
    bad = admin.post(url, {"api_key": "nope-nope-nope", "password": PASSWORD})
    assert bad.status_code == 400 and "401" in bad.content.decode()
    response = admin.post(url, {"api_key": new_key, "password": PASSWORD})
    assert response.status_code == 302
    workspace_a.refresh_from_db()
    assert workspace_a.api_key_hint == new_key[-4:]


def test_disable_enable_and_reprobe(client_for, workspace_a, alice):
    admin = client_for(alice)
    admin.post(
        reverse("workspaces-set-enabled", args=[workspace_a.pk]), {"enabled": "0"}
    )
    assert not Workspace.objects.get(pk=workspace_a.pk).enabled
    body = admin.get(
        reverse("workspaces-detail", args=[workspace_a.pk])
    ).content.decode()
    assert "This workspace is disabled" in body
    admin.post(
        reverse("workspaces-set-enabled", args=[workspace_a.pk]), {"enabled": "1"}
    )
    assert Workspace.objects.get(pk=workspace_a.pk).enabled
    response = admin.post(
        reverse("workspaces-reprobe", args=[workspace_a.pk]), follow=True
    )
    assert "permissions were re-checked" in response.content.decode()


def test_delete_explains_what_happens_then_deletes(client_for, workspace_a, alice):
    admin = client_for(alice)
    url = reverse("workspaces-delete", args=[workspace_a.pk])
    page = admin.get(url).content.decode()
    assert "are deleted from Workroom; nothing is changed in Control Room" in page
    response = admin.post(url)
    assert response.status_code == 302 and not Workspace.objects.exists()


def test_the_list_shows_fingerprints_only(client_for, workspace_a, bob, emu):
    body = (
        client_for(bob)
        .get(reverse("workspaces-list", args=[workspace_a.team.slug]))
        .content.decode()
    )
    assert "Production A" in body and workspace_a.key_fingerprint in body
    assert emu.api_key not in body
    assert "Add workspace" not in body
