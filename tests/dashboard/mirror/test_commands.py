"""manage.py sync_workspace: a sync in the calling process."""

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
