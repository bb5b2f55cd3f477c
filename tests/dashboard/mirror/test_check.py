"""The proof of convergence: `mirror_check` (service, command, mirror page) against the emulator."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from dashboard.mirror.models import MirrorCheck, WorkItem
from dashboard.mirror.services.check import (
    check_execute,
    mirror_check,
    persistent_drift,
)
from tests.dashboard.mirror.helpers import add_runs, truth_items
from tests.dashboard.mirror.helpers import client_for as api_client
from tests.dashboard.support.sync import full_sync

pytestmark = [pytest.mark.django_db, pytest.mark.emulator]


def _failed(emu: Any) -> list[str]:
    return sorted(i for i, v in truth_items(emu).items() if v[0] == "failed")


def test_no_drift_after_a_sync_and_exact_drift_by_state_after_changes(emu, ws):
    add_runs(emu, processes=2, runs=2, items=10, failure_rate=0.5)
    full_sync(ws)
    with api_client(emu) as client:
        report = mirror_check(ws, client)
    assert not report.has_drift
    assert report.items_checked == 40 and report.runs_checked == 4
    failed = _failed(emu)
    with api_client(emu) as client:
        client.work_items.retry(failed[:3])
        client.work_items.mark_as_done(failed[3:5])
        client.work_items.delete(failed[5:6])
        report = mirror_check(ws, client)
    assert report.items == {
        ("pending", "failed"): 3,
        ("done", "failed"): 2,
        ("gone", "failed"): 1,
    }
    # Retrying reopened the runs of the retried items.
    assert set(report.runs) == {("in_progress", "unresolved")}
    assert report.item_drift == 6 and report.has_drift
    assert len(report.examples) == 5
    WorkItem.objects.filter(external_id=failed[6]).delete()
    with api_client(emu) as client:
        assert mirror_check(ws, client).items[("failed", "missing")] == 1
    full_sync(ws)
    with api_client(emu) as client:
        assert not mirror_check(ws, client).has_drift


def test_persistent_drift_keeps_only_what_differed_both_times(emu, ws):
    add_runs(emu, processes=1, runs=1, items=10, failure_rate=0.5)
    full_sync(ws)
    failed = _failed(emu)
    with api_client(emu) as client:
        client.work_items.mark_as_done(failed[:2])
        first = mirror_check(ws, client)
        full_sync(ws)  # the mirror catches up with those two ...
        client.work_items.mark_as_done(failed[2:3])  # ... and one more changes
        second = mirror_check(ws, client)
    assert second.item_drift == 1
    assert not persistent_drift(first, second).has_drift
    with api_client(emu) as client:
        third = mirror_check(ws, client)
    assert persistent_drift(second, third).items == {("done", "failed"): 1}


def test_the_command_prints_the_drift_and_exits_1(emu, ws, capsys):
    add_runs(emu, processes=1, runs=1, items=8, failure_rate=0.5)
    full_sync(ws)
    call_command("mirror_check", str(ws.pk))
    assert "No drift" in capsys.readouterr().out
    with api_client(emu) as client:
        client.work_items.mark_as_done(_failed(emu)[:2])
    with pytest.raises(CommandError) as raised:
        call_command("mirror_check", ws.name)
    assert raised.value.returncode == 1
    out = capsys.readouterr().out
    assert "Drift: 2 work items" in out
    assert "done → failed" in out
    with pytest.raises(CommandError, match="No workspace"):
        call_command("mirror_check", "no such workspace")


def test_the_mirror_page_runs_the_check_and_shows_its_result(
    emu, ws, bob, carol, client_for
):
    add_runs(emu, processes=1, runs=1, items=6, failure_rate=0.5)
    full_sync(ws)
    url = reverse("mirror-check", kwargs={"workspace_id": ws.pk})
    overview = reverse("mirror-workspace-overview", kwargs={"workspace_id": ws.pk})
    assert client_for(carol).post(url).status_code == 403  # viewers cannot start one
    assert client_for(bob).post(url).status_code == 302
    client_for(bob).post(url)  # a second click while one is queued: the same check
    check = MirrorCheck.objects.get()
    assert check.status == "queued" and check.requested_by == bob
    htmx = {"HX-Request": "true", "HX-Target": "mirror-check"}
    polling = client_for(carol).get(overview, headers=htmx)
    assert polling.status_code == 200 and "compared so far" in polling.content.decode()
    check_execute(check.pk)
    check_execute(check.pk)  # a second delivery is a no-op
    done = client_for(carol).get(overview, headers=htmx)
    assert done.status_code == 286
    assert "all 6 work items and 1 runs match" in done.content.decode()
    with api_client(emu) as client:
        client.work_items.mark_as_done(_failed(emu)[:1])
    client_for(bob).post(url)
    check_execute(MirrorCheck.objects.first().pk)  # type: ignore[union-attr]
    page = client_for(carol).get(overview).content.decode()
    assert "1 of 6 work items" in page and 'id="check-drift"' in page
