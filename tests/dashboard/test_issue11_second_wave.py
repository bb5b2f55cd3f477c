"""Issue 11 findings of the second wave (bulk operations and work-item pages): each test states
the wanted behaviour and failed before its fix (they were xfail(strict=True) until then)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from dashboard.accounts.models import Membership, Role
from dashboard.audit.models import AuditEvent
from dashboard.bulk import drafts, execution
from dashboard.bulk.models import BulkItem, BulkOperation
from dashboard.mirror.models import WorkItem
from dashboard.workitems import rollup
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
    workspace = workspace_on_emulator(emu, team_a, name="Second A", added_by=alice)
    failing_run(emu)
    full_sync(workspace)
    return workspace


def test_h1_a_demoted_creator_cannot_confirm_an_older_draft(client_for, bob, ws_a):
    op = drafts.create_draft(bob, action="mark_as_done", filter_query="state=failed")
    Membership.objects.filter(user=bob).update(role=Role.VIEWER)
    response = client_for(bob).post(
        reverse("bulk-confirm", args=[op.pk]), {"reason": "old draft"}
    )
    op.refresh_from_db()
    assert response.status_code in (403, 404)
    assert op.state == BulkOperation.State.DRAFT


def test_h1_a_removed_creator_cannot_confirm_or_see_a_draft(client_for, bob, ws_a):
    op = drafts.create_draft(bob, action="delete", filter_query="state=failed")
    Membership.objects.filter(user=bob).delete()
    client = client_for(bob)
    assert client.get(reverse("bulk-detail", args=[op.pk])).status_code == 404
    client.post(reverse("bulk-confirm", args=[op.pk]), {"reason": "gone"})
    op.refresh_from_db()
    assert op.state == BulkOperation.State.DRAFT


def test_d_a_huge_id_is_a_clear_message(client_for, bob, ws_a):
    response = client_for(bob).post(
        reverse("bulk-new"),
        {"action": "retry", "selection": "ids", "filter": "", "ids": [str(10**30)]},
    )
    assert response.status_code == 400


def test_g_an_operation_never_spans_teams(emu, team_a, team_b, alice, charlie, ws_a):
    ws_b = workspace_on_emulator(emu, team_b, name="Second B", added_by=charlie)
    full_sync(ws_b)
    both = make_user("both-teams")
    add_member(team_a, both, Role.OPERATOR)
    add_member(team_b, both, Role.OPERATOR)
    try:
        op = drafts.create_draft(both, action="retry", filter_query="state=failed")
    except drafts.SelectionError:
        return  # refusing is one correct answer
    assert len(op.team_ids) == 1


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


def test_m_a_preview_of_ineligible_items_says_so_plainly(client_for, bob, ws_a, emu):
    process = emu.store.add_process("All done", failure_rate=0.0)
    emu.store.create_run(process.id, payloads=[{"n": n} for n in range(3)])
    emu.advance(600)
    full_sync(ws_a)
    op = drafts.create_draft(bob, action="retry", filter_query="state=done")
    html = client_for(bob).get(reverse("bulk-detail", args=[op.pk])).content.decode()
    assert "retryed" not in html
    assert "new items now match" not in html


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


# --- H1: the right to act, re-checked at every step ---------------------------------------


def _confirmed(user: Any, **kwargs: Any) -> BulkOperation:
    op = drafts.create_draft(user, action="retry", filter_query="state=failed")
    return drafts.confirm(op, user, reason="before the change", **kwargs)


def test_h1_a_demoted_creator_may_view_but_not_cancel(client_for, bob, ws_a):
    op = _confirmed(bob)
    Membership.objects.filter(user=bob).update(role=Role.VIEWER)
    client = client_for(bob)
    page = client.get(reverse("bulk-detail", args=[op.pk]))
    assert page.status_code == 200 and b'id="cancel-button"' not in page.content
    assert client.post(reverse("bulk-cancel", args=[op.pk])).status_code == 403
    op.refresh_from_db()
    assert op.cancel_requested_at is None


def test_h1_a_removed_creator_loses_the_operation(client_for, bob, ws_a):
    op = _confirmed(bob)
    Membership.objects.filter(user=bob).delete()
    client = client_for(bob)
    for name in ("bulk-detail", "bulk-progress", "bulk-items"):
        assert client.get(reverse(name, args=[op.pk])).status_code == 404, name
    assert client.post(reverse("bulk-cancel", args=[op.pk])).status_code == 404
    assert f"/bulk/{op.pk}/" not in client.get(reverse("bulk-list")).content.decode()
    op.refresh_from_db()
    assert op.cancel_requested_at is None


def test_h1_a_demoted_creator_sees_why_the_preview_cannot_be_confirmed(
    client_for, bob, ws_a
):
    op = drafts.create_draft(bob, action="retry", filter_query="state=failed")
    Membership.objects.filter(user=bob).update(role=Role.VIEWER)
    html = client_for(bob).get(reverse("bulk-detail", args=[op.pk])).content.decode()
    assert "needs the operator role" in html and 'id="confirm-form"' not in html
    with pytest.raises(drafts.SelectionError, match="operator role"):
        drafts.confirm(op, bob, reason="demoted")


def test_h1_the_operation_page_says_why_workroom_stopped_it(
    client_for, alice, bob, ws_a
):
    op = _confirmed(bob)
    Membership.objects.filter(user=bob).update(role=Role.VIEWER)
    for chunk_id in op.chunks.values_list("pk", flat=True):
        execution.run_chunk(chunk_id)
    op.refresh_from_db()
    assert op.state == BulkOperation.State.CANCELLED and op.done_count == 0
    assert op.cancelled_count == op.queued_count > 0
    html = client_for(alice).get(reverse("bulk-detail", args=[op.pk])).content.decode()
    assert 'id="cancel-reason"' in html
    assert "bob may not act in Team A (the operator role is needed)" in html
    assert WorkItem.objects.filter(workspace=ws_a, state="failed").count() == op.total
    finished = AuditEvent.objects.get(action="bulk.retry.finished")
    assert "operator role is needed" in finished.summary


def test_h1_an_expired_draft_cannot_be_confirmed_and_says_so(
    client_for, bob, ws_a, settings
):
    settings.WORKROOM_BULK_DRAFT_TTL_HOURS = 2
    op = drafts.create_draft(bob, action="retry", filter_query="state=failed")
    BulkOperation.objects.filter(pk=op.pk).update(
        created_at=timezone.now() - timedelta(hours=2, seconds=1)
    )
    client = client_for(bob)
    preview = client.get(reverse("bulk-detail", args=[op.pk])).content.decode()
    assert "This preview expired at" in preview and 'id="confirm-form"' not in preview
    response = client.post(reverse("bulk-confirm", args=[op.pk]), {"reason": "late"})
    assert response.status_code == 400
    assert "expired" in response.content.decode()
    op.refresh_from_db()
    assert op.state == BulkOperation.State.DRAFT and not op.chunks.exists()


def test_h1_expired_drafts_are_purged_and_nothing_else(bob, ws_a, settings):
    settings.WORKROOM_BULK_DRAFT_TTL_HOURS = 24
    old = timezone.now() - timedelta(hours=25)
    expired = drafts.create_draft(bob, action="retry", filter_query="state=failed")
    fresh = drafts.create_draft(bob, action="delete", filter_query="state=failed")
    ran = _confirmed(bob)
    BulkOperation.objects.filter(pk__in=[expired.pk, ran.pk]).update(created_at=old)
    assert drafts.purge_expired_drafts() == 1
    assert drafts.purge_expired_drafts() == 0  # idempotent
    assert set(BulkOperation.objects.values_list("pk", flat=True)) == {
        fresh.pk,
        ran.pk,
    }
    assert not BulkItem.objects.filter(operation_id=expired.pk).exists()
    assert BulkItem.objects.filter(operation=ran).exists()
    entry = settings.CELERY_BEAT_SCHEDULE["bulk-purge-drafts"]
    assert entry["task"] == "dashboard.bulk.tasks.purge_drafts"


# --- (d), (g), (m), (n): more of the same ---------------------------------------------------


@pytest.mark.parametrize("value", ["-1", "0", "abc", "1e3", str(2**63), "9" * 5000])
def test_d_every_bad_id_is_a_clear_400(client_for, bob, ws_a, value):
    response = client_for(bob).post(
        reverse("bulk-new"),
        {"action": "retry", "selection": "ids", "filter": "", "ids": [value]},
    )
    assert response.status_code == 400
    assert "is not a work item id" in response.content.decode()


def test_d_a_huge_operation_id_in_the_url_is_a_404(client_for, bob, ws_a):
    client = client_for(bob)
    assert client.get(f"/bulk/{10**30}/").status_code == 404
    assert client.post(f"/bulk/{10**30}/cancel/").status_code == 404


def _two_teams(emu: Any, team_a: Any, team_b: Any, charlie: Any) -> tuple[Any, Any]:
    ws_b = workspace_on_emulator(emu, team_b, name="Second B", added_by=charlie)
    full_sync(ws_b)
    both = make_user("both-teams")
    add_member(team_a, both, Role.OPERATOR)
    add_member(team_b, both, Role.OPERATOR)
    return ws_b, both


def test_g_a_selection_spanning_teams_asks_for_the_team(
    emu, team_a, team_b, charlie, client_for, ws_a
):
    ws_b, both = _two_teams(emu, team_a, team_b, charlie)
    client = client_for(both)
    form = {"action": "retry", "selection": "filter", "filter": "state=failed"}
    refused = client.post(reverse("bulk-new"), form)
    html = refused.content.decode()
    assert refused.status_code == 400 and not BulkOperation.objects.exists()
    assert "holds items of 2 teams (Team A, Team B)" in html and 'name="team"' in html
    chosen = client.post(reverse("bulk-new"), {**form, "team": str(team_b.pk)})
    assert chosen.status_code == 302
    op = BulkOperation.objects.get()
    assert op.team_ids == [team_b.pk]
    assert set(op.items.values_list("workspace_id", flat=True)) == {ws_b.pk}
    # Team A never sees it, not even its admin.
    assert f"/bulk/{op.pk}/" not in client_for(charlie).get("/bulk/").content.decode()


def test_g_a_team_the_user_is_not_in_is_refused(
    emu, team_a, team_b, charlie, bob, ws_a
):
    _two_teams(emu, team_a, team_b, charlie)
    with pytest.raises(drafts.SelectionError, match="Choose one of your teams"):
        drafts.create_draft(
            bob, action="retry", filter_query="state=failed", team_id=team_b.pk
        )


def test_m_drift_counts_new_changed_and_removed_items_apart(bob, ws_a, emu):
    op = drafts.create_draft(bob, action="retry", filter_query="state=failed")
    first = op.items.order_by("pk").first()
    assert first is not None
    WorkItem.objects.filter(pk=first.work_item_id).update(state="done")
    failing_run(emu, items=2, name="Later")
    full_sync(ws_a)
    found = drafts.drift(op, bob)
    assert (found.added, found.changed, found.removed) == (2, 1, 0)


def test_m_failed_items_ineligible_in_the_preview_are_not_new(carol, ws_a):
    op = drafts.create_draft(carol, action="retry", filter_query="state=failed")
    assert op.total == 0 and op.ineligible > 0  # a viewer: every item ineligible
    assert not drafts.drift(op, carol).any


def test_n_a_stopped_group_in_triage_is_not_called_transient(client_for, bob, ws_a):
    WorkItem.objects.filter(workspace=ws_a, state="failed").update(
        exception_type="orchestrator", exception_code="TERMINATED"
    )
    # Written as a sync would write it; the sync's receiver then rebuilds triage's rollup.
    rollup.refresh_workspace(ws_a.pk)
    html = client_for(bob).get(reverse("workitems-triage")).content.decode()
    assert "TERMINATED" in html and "stopped on purpose" in html
    assert "usually transient" not in html
