"""The item detail page: payload tree, files, exception, run links, history."""

from __future__ import annotations

import pytest
from django.urls import reverse

from dashboard.audit.services import record
from dashboard.mirror.models import WorkItem, WorkItemStateChange
from tests.dashboard.workitems.conftest import make_items, make_process

pytestmark = pytest.mark.django_db


def test_detail_shows_payload_files_exception_and_history(
    client_for, carol, alice, ws_a, team_a
):
    proc = make_process(ws_a, "Invoices")
    (item,) = make_items(
        proc,
        1,
        state="failed",
        exception_type="business",
        exception_code="INVALID_IBAN",
        exception_message="IBAN <DE00> is invalid",
        process_run_external_id="run-1",
        step_run_external_id="sr-1",
    )
    WorkItem.objects.filter(pk=item.pk).update(
        payload={"customer": {"iban": "DE00", "tags": ["a", "<b>"]}},
        files=[{"id": "f1", "name": "scan.pdf", "size": 2048}],
        payload_synced_at=item.created_at,
    )
    WorkItemStateChange.objects.create(
        work_item=item,
        old_state="in_progress",
        new_state="failed",
        exception_code="INVALID_IBAN",
    )
    record(
        None,
        team=team_a,
        action="work_item.retry",
        obj=item,
        summary="Retried work item x",
        actor=alice,
    )
    html = (
        client_for(carol)
        .get(reverse("workitems-item-detail", args=[item.pk]))
        .content.decode()
    )
    assert (
        'class="json-key">&quot;iban&quot;' in html and "&quot;&lt;b&gt;&quot;" in html
    )
    assert "scan.pdf" in html and "2.0 KB" in html
    assert "IBAN &lt;DE00&gt; is invalid" in html and "fix data / mark done" in html
    assert "in_progress → failed (INVALID_IBAN)" in html
    assert "Retried work item x" in html and "by alice" in html
    # Links to the run / step run pages when the processes app serves them.
    run_url = reverse(
        "processes-run-detail", kwargs={"workspace_id": ws_a.pk, "run_id": "run-1"}
    )
    assert f'href="{run_url}"' in html
    # A viewer sees no action buttons and no editor.
    assert "retry-button" not in html and "payload-editor" not in html


def test_detail_of_another_team_is_404(client_for, charlie, ws_a):
    (item,) = make_items(make_process(ws_a), 1)
    assert (
        client_for(charlie)
        .get(reverse("workitems-item-detail", args=[item.pk]))
        .status_code
        == 404
    )
    assert (
        client_for(charlie)
        .get(reverse("workitems-item-detail", args=[999999]))
        .status_code
        == 404
    )


@pytest.mark.emulator
def test_detail_reads_a_payload_the_sync_has_not_read_yet(client_for, bob, emu_ws):
    item = WorkItem.objects.filter(workspace=emu_ws)[0]
    WorkItem.objects.filter(pk=item.pk).update(payload=None, payload_synced_at=None)
    html = (
        client_for(bob)
        .get(reverse("workitems-item-detail", args=[item.pk]))
        .content.decode()
    )
    assert "&quot;customer&quot;" in html
    assert WorkItem.objects.get(pk=item.pk).payload_synced_at is not None


def test_data_as_of_is_the_latest_observation_of_the_item(client_for, carol, ws_a):
    from datetime import timedelta

    from django.utils import timezone

    from dashboard.mirror.models import WorkspaceSyncState

    (item,) = make_items(make_process(ws_a), 1, state="failed")
    long_ago = timezone.now() - timedelta(hours=3)
    WorkspaceSyncState.objects.update_or_create(
        workspace=ws_a, defaults={"last_success_at": long_ago}
    )
    # Re-read after an action just now: newer than the last full sync.
    WorkItem.objects.filter(pk=item.pk).update(last_seen_at=timezone.now())
    html = (
        client_for(carol)
        .get(reverse("workitems-item-detail", args=[item.pk]))
        .content.decode()
    )
    assert "3 h ago" not in html and "now" in html.split("Data as of")[1][:200]
    WorkItem.objects.filter(pk=item.pk).update(
        last_seen_at=long_ago - timedelta(days=1)
    )
    html = (
        client_for(carol)
        .get(reverse("workitems-item-detail", args=[item.pk]))
        .content.decode()
    )
    assert "3 h ago" in html.split("Data as of")[1][:200]
