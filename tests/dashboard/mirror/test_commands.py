"""manage.py sync_workspace (a sync in the calling process) and register_webhooks."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from dashboard.mirror.models import SyncRun
from tests.dashboard.mirror.helpers import add_runs, assert_converged

pytestmark = [pytest.mark.django_db, pytest.mark.emulator]


def test_it_syncs_and_reports(ws, emu, capsys):
    add_runs(emu, processes=1, runs=1, items=3)
    call_command("sync_workspace", str(ws.pk))
    out = capsys.readouterr().out
    assert "succeeded" in out and "requests" in out
    assert SyncRun.objects.get().status == SyncRun.Status.SUCCEEDED
    assert_converged(emu, ws)


def test_it_explains_an_unknown_workspace(db):
    with pytest.raises(CommandError, match="No workspace with id 999"):
        call_command("sync_workspace", "999")


def test_register_webhooks_registers_each_process_once(ws, emu, capsys):
    emu.store.add_process("Invoices")
    emu.store.add_process("Orders")
    call_command("register_webhooks", ws.name, site_url="http://127.0.0.1:8000/")
    assert "Registered 2 webhook(s)" in capsys.readouterr().out
    hooks = list(emu.store.webhooks.values())
    assert len(hooks) == 2
    assert {h.endpoint for h in hooks} == {f"http://127.0.0.1:8000/hooks/{ws.uid}/"}
    call_command("register_webhooks", str(ws.pk), site_url="http://127.0.0.1:8000")
    assert "already delivers" in capsys.readouterr().out
    assert len(emu.store.webhooks) == 2
    with pytest.raises(CommandError, match="No workspace"):
        call_command("register_webhooks", "nope", site_url="http://x")
