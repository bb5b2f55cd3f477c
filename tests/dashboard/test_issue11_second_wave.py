"""Issue 11 findings left for the second wave (bulk and operations apps, being restructured):
each test states the wanted behaviour and fails today, so it is marked xfail(strict=True) with
its finding letter. Remove the mark with the fix; strict means a fix that lands unnoticed
fails the suite until the mark goes."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse

from dashboard.accounts.models import Membership, Role
from dashboard.bulk import selection
from dashboard.bulk.models import BulkOperation
from dashboard.mirror.models import WorkItem
from robocorp_api.emulator import EmulatorServer
from tests.dashboard.factories import add_member, make_user
from tests.dashboard.support.sync import full_sync
from tests.dashboard.support.workspaces import workspace_on_emulator
from tests.dashboard.workitems.conftest import (
    failing_run,
)

pytestmark = [pytest.mark.django_db, pytest.mark.emulator]


@pytest.fixture
def ws_a(emu: EmulatorServer, team_a: Any, alice: Any) -> Any:
    workspace = workspace_on_emulator(
        emu, team_a, name="Second A", added_by=alice
    )
    failing_run(emu)
    full_sync(workspace)
    return workspace


@pytest.mark.xfail(
    strict=True, reason="issue 11 H1: drafts are confirmable after demotion"
)
def test_h1_a_demoted_creator_cannot_confirm_an_older_draft(client_for, bob, ws_a):
    op = selection.create_draft(bob, action="mark_as_done", filter_query="state=failed")
    Membership.objects.filter(user=bob).update(role=Role.VIEWER)
    response = client_for(bob).post(
        reverse("bulk-confirm", args=[op.pk]), {"reason": "old draft"}
    )
    op.refresh_from_db()
    assert response.status_code in (403, 404)
    assert op.state == BulkOperation.State.DRAFT


@pytest.mark.xfail(
    strict=True, reason="issue 11 H1: a removed member still reaches drafts"
)
def test_h1_a_removed_creator_cannot_confirm_or_see_a_draft(client_for, bob, ws_a):
    op = selection.create_draft(bob, action="delete", filter_query="state=failed")
    Membership.objects.filter(user=bob).delete()
    client = client_for(bob)
    assert client.get(reverse("bulk-detail", args=[op.pk])).status_code == 404
    client.post(reverse("bulk-confirm", args=[op.pk]), {"reason": "gone"})
    op.refresh_from_db()
    assert op.state == BulkOperation.State.DRAFT


@pytest.mark.xfail(
    connection.vendor == "sqlite",
    strict=True,
    reason="issue 11 (d): an id of 10^30 raises OverflowError on SQLite",
)
def test_d_a_huge_id_is_a_clear_message(client_for, bob, ws_a):
    response = client_for(bob).post(
        reverse("bulk-new"),
        {"action": "retry", "selection": "ids", "filter": "", "ids": [str(10**30)]},
    )
    assert response.status_code == 400


@pytest.mark.xfail(strict=True, reason="issue 11 (g): an operation may span two teams")
def test_g_an_operation_never_spans_teams(
    emu, team_a, team_b, alice, charlie, ws_a
):
    ws_b = workspace_on_emulator(
        emu, team_b, name="Second B", added_by=charlie
    )
    full_sync(ws_b)
    both = make_user("both-teams")
    add_member(team_a, both, Role.OPERATOR)
    add_member(team_b, both, Role.OPERATOR)
    try:
        op = selection.create_draft(both, action="retry", filter_query="state=failed")
    except selection.SelectionError:
        return  # refusing is one correct answer
    assert len(op.team_ids) == 1


@pytest.mark.xfail(
    strict=True, reason="issue 11 (l): an empty file says 'Choose a file'"
)
def test_l_an_empty_upload_says_the_file_is_empty(client_for, bob, ws_a):
    item = WorkItem.objects.filter(workspace=ws_a, state="failed").first()
    assert item is not None
    response = client_for(bob).post(
        reverse("workitems-item-upload", args=[item.pk]),
        {"file": SimpleUploadedFile("empty.txt", b"")},
        follow=True,
    )
    html = response.content.decode()
    assert "Choose a file to upload." not in html and "empty" in html.lower()


@pytest.mark.xfail(strict=True, reason="issue 11 (m): false drift note and 'retryed'")
def test_m_a_preview_of_ineligible_items_says_so_plainly(
    client_for, bob, ws_a, emu
):
    process = emu.store.add_process("All done", failure_rate=0.0)
    emu.store.create_run(process.id, payloads=[{"n": n} for n in range(3)])
    emu.advance(600)
    full_sync(ws_a)
    op = selection.create_draft(bob, action="retry", filter_query="state=done")
    html = client_for(bob).get(reverse("bulk-detail", args=[op.pk])).content.decode()
    assert "retryed" not in html
    assert "new items now match" not in html


@pytest.mark.xfail(
    strict=True, reason="issue 11 (n): a stopped run's items called transient"
)
def test_n_items_of_a_stopped_run_are_not_called_transient(client_for, bob, ws_a):
    item = WorkItem.objects.filter(workspace=ws_a, state="failed").first()
    assert item is not None
    WorkItem.objects.filter(pk=item.pk).update(
        exception_type="orchestrator", exception_code="PROCESS_RUN_STOPPED"
    )
    html = (
        client_for(bob)
        .get(reverse("workitems-item-detail", args=[item.pk]))
        .content.decode()
    )
    assert "PROCESS_RUN_STOPPED" in html
    assert "usually transient" not in html
