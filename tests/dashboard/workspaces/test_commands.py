"""manage.py rotate_encryption_key and bootstrap_demo."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from dashboard.accounts.models import Membership, Role, Team
from dashboard.lib import secretbox
from dashboard.workspaces import services
from dashboard.workspaces.models import Workspace
from tests.dashboard.factories import make_workspace_row

pytestmark = pytest.mark.django_db

OLD = ("old", secretbox.generate_key())
NEW = ("new", secretbox.generate_key())


def _run(name: str, *args: str) -> str:
    out = StringIO()
    call_command(name, *args, stdout=out, stderr=out)
    return out.getvalue()


def test_rotation_reencrypts_every_key_under_the_primary(team_a, settings):
    settings.WORKROOM_ENCRYPTION_KEYS = [OLD]
    rows = [make_workspace_row(team_a, api_key=f"secret-key-{i:04d}") for i in range(5)]
    settings.WORKROOM_ENCRYPTION_KEYS = [NEW, OLD]

    output = _run("rotate_encryption_key", "--batch-size", "2")
    assert "Rotated 5, already current 0, unreadable 0" in output
    assert "No rows left on other key ids" in output
    for i, row in enumerate(rows):
        stored = Workspace.objects.get(pk=row.pk)
        assert (
            stored.api_key_key_id == "new"
            and secretbox.key_id_of(stored.api_key_ciphertext) == "new"
        )
        # Readable with the new key alone: the old key can now be dropped.
        settings.WORKROOM_ENCRYPTION_KEYS = [NEW]
        assert (
            secretbox.decrypt(stored.api_key_ciphertext, context=str(stored.uid))
            == f"secret-key-{i:04d}"
        )
        settings.WORKROOM_ENCRYPTION_KEYS = [NEW, OLD]

    again = _run("rotate_encryption_key")
    assert "Rotated 0, already current 5" in again


def test_rotation_reports_unreadable_rows_and_still_rotates_the_others(
    team_a, settings
):
    settings.WORKROOM_ENCRYPTION_KEYS = [OLD]
    good = make_workspace_row(team_a, api_key="good-key-1111")
    bad = make_workspace_row(team_a, api_key="bad-key-2222")
    Workspace.objects.filter(pk=bad.pk).update(
        api_key_ciphertext="v1:fernet:lost:garbage"
    )
    settings.WORKROOM_ENCRYPTION_KEYS = [NEW, OLD]

    with pytest.raises(CommandError, match="1 workspace key"):
        _run("rotate_encryption_key")
    assert Workspace.objects.get(pk=good.pk).api_key_key_id == "new"
    assert (
        Workspace.objects.get(pk=bad.pk).api_key_ciphertext == "v1:fernet:lost:garbage"
    )


@pytest.mark.emulator
def test_bootstrap_demo_is_idempotent(emu, capsys):
    first = _run(
        "bootstrap_demo", "--emulator-url", emu.url, "--password", "pw-for-demo-1"
    )
    assert "Created user 'admin' with password 'pw-for-demo-1'" in first
    assert "Demo ready" in first and emu.api_key not in first
    second = _run("bootstrap_demo", "--emulator-url", emu.url)
    assert (
        "exists; its password is unchanged" in second and "pw-for-demo-1" not in second
    )

    user = get_user_model().objects.get(username="admin")
    assert user.check_password("pw-for-demo-1")
    team = Team.objects.get(name="Demo team")
    assert Membership.objects.get(team=team, user=user).role == Role.ADMIN
    workspace = Workspace.objects.get()
    assert (workspace.team, workspace.name, workspace.base_url) == (
        team,
        "Demo workspace",
        emu.api_base_url,
    )
    assert services.key_matches(workspace, emu.api_key)
    assert Team.objects.count() == 1


@pytest.mark.emulator
def test_bootstrap_demo_follows_a_new_emulator_key(emu, settings):
    _run("bootstrap_demo", "--emulator-url", emu.url, "--password", "pw-for-demo-1")
    workspace = Workspace.objects.get()
    # Pretend the stored key is stale (the emulator restarted with another key).
    services.replace_key(workspace, None, api_key=emu.create_key(["read_runs"]))
    _run("bootstrap_demo", "--emulator-url", emu.url)
    assert services.key_matches(Workspace.objects.get(), emu.api_key)


def test_bootstrap_demo_explains_an_unreachable_emulator():
    with pytest.raises(CommandError, match="is the emulator running"):
        _run("bootstrap_demo", "--emulator-url", "http://127.0.0.1:9")


def test_bootstrap_uses_the_configured_password(emu, settings):
    settings.WORKROOM_DEMO_PASSWORD = "from-the-env-42"
    out = _run("bootstrap_demo", "--emulator-url", emu.url, "--username", "demo")
    assert "from-the-env-42" in out
    assert (
        get_user_model().objects.get(username="demo").check_password("from-the-env-42")
    )
