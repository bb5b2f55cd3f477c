"""Deleting a workspace removes its mirror with set-based statements (no row loading)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from dashboard.mirror.models import (
    Process,
    ProcessRun,
    StepRun,
    SyncRun,
    WorkItem,
    WorkItemStateChange,
)
from dashboard.mirror.services.syncruns import sync_request, sync_run_execute
from dashboard.workspaces.services import delete_workspace
from tests.dashboard.mirror.helpers import add_runs, client_for, truth_items
from tests.dashboard.support.sync import full_sync
from tests.dashboard.support.workspaces import workspace_on_emulator

pytestmark = [pytest.mark.django_db, pytest.mark.emulator]
MODELS = (Process, ProcessRun, StepRun, WorkItem, SyncRun)


def _mirror_rows(ws: Any) -> int:
    return sum(m.objects.filter(workspace=ws).count() for m in MODELS)


def test_deleting_a_workspace_deletes_its_mirror_only(team_b, emu, ws, alice, settings):
    settings.WORKROOM_SYNC_FAILED_SWEEP_SECONDS = 0
    other = workspace_on_emulator(emu, team_b, name="Other")
    add_runs(emu, processes=2, runs=3, items=10, failure_rate=0.5)
    manual = sync_request(workspace=ws, trigger=SyncRun.Trigger.MANUAL)
    sync_run_execute(sync_run_id=manual.pk)
    failed = [i for i, v in truth_items(emu).items() if v[0] == "failed"]
    with client_for(emu) as client:
        client.work_items.mark_as_done(failed[:2])
    full_sync(ws)
    full_sync(other)
    assert WorkItemStateChange.objects.filter(work_item__workspace=ws).exists()
    before_other = _mirror_rows(other)
    with CaptureQueriesContext(connection) as captured:
        delete_workspace(ws, alice)
    # Set-based: one DELETE for all the workspace's items, no statement per row.
    statements = [q["sql"] for q in captured.captured_queries]
    item_deletes = [
        s for s in statements if s.startswith('DELETE FROM "mirror_workitem"')
    ]
    assert len(item_deletes) == 1 and "workspace_id" in item_deletes[0]
    assert not WorkItem.objects.filter(workspace_id=ws.pk).exists()
    assert not ProcessRun.objects.filter(workspace_id=ws.pk).exists()
    assert not WorkItemStateChange.objects.filter(
        work_item__workspace_id=ws.pk
    ).exists()
    assert _mirror_rows(other) == before_other
