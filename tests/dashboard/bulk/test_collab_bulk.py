"""Bulk operations and working together: a bulk retry leaves "verified" items alone unless
included, and a bulk mark done / delete starts after the undo window (cancel = undo)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from dashboard.audit.services import Actor
from dashboard.bulk import drafts, execution
from dashboard.bulk.models import BulkChunk, BulkItem, BulkOperation
from dashboard.mirror.models import WorkItem
from dashboard.workitems import collab
from dashboard.workitems.models import ItemHandling
from dashboard.workspaces.services import build_client
from tests.dashboard.bulk.helpers import failed_ids, seed_failed
from tests.dashboard.support.sync import full_sync

pytestmark = [pytest.mark.emulator]


def _run_all(op: BulkOperation) -> list[str]:
    return [
        execution.run_chunk(pk).status
        for pk in BulkChunk.objects.filter(operation=op).values_list("pk", flat=True)
    ]


@pytest.mark.parametrize("include", [False, True])
def test_a_bulk_retry_leaves_verified_items_alone_unless_included(
    db, ws, emu, bob, spy, client_for, include
):
    seed_failed(emu, 4)
    full_sync(ws)
    ids = failed_ids(ws)
    verified = list(WorkItem.objects.filter(pk__in=ids[:1]).select_related("workspace"))
    collab.set_review(verified, "verified", Actor.of(bob))
    op = drafts.create_draft(bob, action="retry", ids=ids)
    page = client_for(bob).get(reverse("bulk-detail", args=[op.pk])).content.decode()
    assert 'id="include-verified"' in page and "Retry the 1 item" in page
    response = client_for(bob).post(
        reverse("bulk-confirm", args=[op.pk]),
        {"reason": "ERP is back", **({"include_verified": "on"} if include else {})},
    )
    assert response.status_code == 302
    _run_all(op)
    sent = set(spy.per_row("retry"))
    verified_row = BulkItem.objects.get(operation=op, work_item_id=ids[0])
    if include:
        assert len(sent) == 4 and verified_row.state == BulkItem.State.DONE
    else:
        assert len(sent) == 3 and verified_row.state == BulkItem.State.SKIPPED
        assert "Verified by the team" in verified_row.reason
        assert WorkItem.objects.get(pk=ids[0]).state == "failed"
    # Every item Control Room accepted is now "retried".
    assert ItemHandling.objects.filter(review_status="retried").count() == len(sent)


def test_a_bulk_mark_done_waits_for_the_undo_window_and_cancelling_sends_nothing(
    db, ws, emu, bob, spy, settings, client_for
):
    settings.WORKROOM_UNDO_SECONDS = 30
    seed_failed(emu, 3)
    full_sync(ws)
    op = drafts.create_draft(bob, action="mark_as_done", filter_query="")
    before = timezone.now()
    drafts.confirm(op, bob, reason="business says done")
    chunk = BulkChunk.objects.get(operation=op)
    assert chunk.not_before >= before + timedelta(seconds=29)
    assert _run_all(op) == ["noop"]  # a delivery before the window ends does nothing
    page = client_for(bob).get(reverse("bulk-detail", args=[op.pk])).content.decode()
    assert "Waiting for the undo window" in page
    assert "Undo (nothing was sent yet)" in page
    assert spy.per_row() == {}
    execution.cancel(op, bob)
    op.refresh_from_db()
    assert op.state == BulkOperation.State.CANCELLED and op.cancelled_count == 3
    assert spy.per_row() == {}


def test_a_bulk_retry_is_not_held(db, ws, emu, bob, spy, settings):
    settings.WORKROOM_UNDO_SECONDS = 30
    seed_failed(emu, 2)
    full_sync(ws)
    op = drafts.create_draft(bob, action="retry", filter_query="")
    drafts.confirm(op, bob, reason="transient")
    assert _run_all(op) == ["done"]
    assert len(spy.per_row("retry")) == 2


def test_the_held_start_shows_on_the_preview(db, ws, emu, bob, client_for, settings):
    settings.WORKROOM_UNDO_SECONDS = 7
    seed_failed(emu, 1)
    full_sync(ws)
    op = drafts.create_draft(bob, action="delete", filter_query="")
    page: Any = client_for(bob).get(reverse("bulk-detail", args=[op.pk]))
    assert "Starts 7 s after you confirm" in page.content.decode()


# --- retry with patch ---------------------------------------------------------------------


@pytest.fixture
def payload_puts(emu: Any) -> Any:
    """Every payload PUT Control Room received (emulator row ids)."""
    calls: list[int] = []
    original = emu.store.update_payload

    def recording(row: int, payload: Any) -> None:
        calls.append(row)
        original(row, payload)

    emu.store.update_payload = recording
    yield calls
    emu.store.update_payload = original


def _patch_preview(client: Any, patch: str, kind: str = "merge") -> Any:
    return client.post(
        reverse("bulk-new"),
        {
            "action": "retry_with_patch",
            "selection": "filter",
            "filter": "state=failed",
            "patch_kind": kind,
            "patch": patch,
        },
    )


def test_retry_with_patch_previews_the_diff_then_patches_and_retries_exactly_once(
    db, ws, emu, bob, spy, payload_puts, client_for
):
    from dashboard.workitems.models import PayloadVersion, ProcessSchema

    seed_failed(emu, 4)
    full_sync(ws)
    items = list(WorkItem.objects.filter(workspace=ws).order_by("pk"))
    assert all(i.payload_synced_at is not None for i in items)
    ProcessSchema.objects.create(
        workspace=ws,
        process_external_id=items[0].process_external_id,
        schema={"properties": {"n": {"maximum": 2}, "tag": {"type": "string"}}},
    )
    response = _patch_preview(client_for(bob), '{"tag": "fixed"}')
    assert response.status_code == 302
    op = BulkOperation.objects.get()
    assert (op.total, op.ineligible) == (3, 1)
    page = client_for(bob).get(response["Location"]).content.decode()
    assert 'id="patch-preview"' in page and "<code>/tag</code>" in page
    assert "Invalid under the process&#x27;s schema after the patch" in page

    client_for(bob).post(reverse("bulk-confirm", args=[op.pk]), {"reason": "fix tags"})
    _run_all(op)
    _run_all(op)  # a second delivery of every chunk changes nothing
    op.refresh_from_db()
    assert op.state == BulkOperation.State.SUCCEEDED and op.done_count == 3
    assert sorted(spy.per_row("retry").values()) == [1, 1, 1]
    assert len(payload_puts) == 3
    with build_client(ws) as client:
        remote = {i.external_id: client.work_items.get(i.external_id) for i in items}
    for item in items:
        api, n = remote[item.external_id], (item.payload or {})["n"]
        if n <= 2:
            assert api.payload == {"n": n, "tag": "fixed"}
            assert api.state == "pending"
        else:
            assert api.payload == item.payload and api.state == "failed"
    assert PayloadVersion.objects.filter(note=f"bulk operation #{op.pk}").count() == 3


def test_a_delivery_that_died_after_the_payload_never_sends_it_twice(
    db, ws, emu, bob, spy, payload_puts
):
    from dashboard.bulk.patching import send_patched_payload
    from dashboard.workitems.actions import Target
    from dashboard.workitems.models import PayloadVersion

    seed_failed(emu, 2)
    full_sync(ws)
    op = drafts.create_draft(
        bob,
        action="retry_with_patch",
        filter_query="state=failed",
        patch=[{"op": "add", "path": "/tag", "value": "x"}],
        patch_kind="json_patch",
    )
    drafts.confirm(op, bob, reason="patch")
    first = BulkItem.objects.filter(operation=op).order_by("pk")[0]
    # What a delivery killed right after its PUT left behind: the payload sent, nothing
    # recorded on the bulk item.
    with build_client(ws) as client:
        send_patched_payload(
            client,
            ws,
            Actor.of(bob),
            Target(
                first.work_item_id,
                first.external_id,
                first.process_id,
                seen_updated_at=first.preview_state_updated_at,
            ),
            first.patched_payload,
            operation_note=f"bulk operation #{op.pk}",
        )
    assert len(payload_puts) == 1
    _run_all(op)
    op.refresh_from_db()
    assert op.done_count == 2
    assert len(payload_puts) == 2  # the second item only
    assert sorted(spy.per_row("retry").values()) == [1, 1]
    assert PayloadVersion.objects.filter(work_item_id=first.work_item_id).count() == 1


def test_a_patch_that_is_not_a_json_patch_is_refused_on_the_form(
    db, ws, emu, bob, client_for
):
    seed_failed(emu, 1)
    full_sync(ws)
    response = _patch_preview(client_for(bob), '{"op": "add"}', kind="json_patch")
    assert response.status_code == 400
    assert (
        "A JSON Patch is a non-empty list of operations." in response.content.decode()
    )
    response = _patch_preview(client_for(bob), "{nope", kind="merge")
    assert "The patch is not valid JSON" in response.content.decode()
    assert not BulkOperation.objects.exists()


# --- two-person approval ------------------------------------------------------------------


def test_a_large_bulk_delete_waits_for_a_second_person(
    db, ws, emu, alice, bob, carol, team_a, spy, client_for
):
    from dashboard.accounts.models import Role
    from dashboard.audit.models import AuditEvent
    from tests.dashboard.factories import add_member, make_user

    dora = make_user("dora")
    add_member(team_a, dora, Role.OPERATOR)
    policy_url = reverse("bulk-approval-policy", args=[team_a.slug])
    assert client_for(bob).post(policy_url, {"threshold": "2"}).status_code == 403
    assert client_for(alice).post(policy_url, {"threshold": "-1"}).status_code == 400
    assert client_for(alice).post(policy_url, {"threshold": "2"}).status_code == 302
    seed_failed(emu, 3)
    full_sync(ws)
    op = drafts.create_draft(bob, action="delete", filter_query="")
    drafts.confirm(op, bob, reason="duplicates")
    op.refresh_from_db()
    assert op.state == BulkOperation.State.AWAITING_APPROVAL
    assert not BulkChunk.objects.filter(operation=op).exists()
    # Its items are claimed: another operation cannot take them meanwhile.
    other = drafts.create_draft(alice, action="mark_as_done", filter_query="")
    assert other.total == 0

    detail = reverse("bulk-detail", args=[op.pk])
    own = client_for(bob).get(detail).content.decode()
    assert 'id="approval"' in own and "approve-button" not in own
    client_for(bob).post(reverse("bulk-approve", args=[op.pk]))  # refused: their own
    assert (
        client_for(carol).post(reverse("bulk-approve", args=[op.pk])).status_code == 403
    )
    op.refresh_from_db()
    assert op.state == BulkOperation.State.AWAITING_APPROVAL

    client_for(dora).post(reverse("bulk-approve", args=[op.pk]))
    op.refresh_from_db()
    assert op.state == BulkOperation.State.QUEUED and op.approved_by == dora
    _run_all(op)
    op.refresh_from_db()
    assert op.done_count == 3 and len(spy.per_row("delete")) == 3
    assert AuditEvent.objects.filter(
        action="bulk.delete.approved", actor_label="dora"
    ).exists()


def test_a_rejected_operation_sends_nothing_and_frees_its_items(
    db, ws, emu, alice, bob, team_a, spy
):
    from dashboard.bulk import approval

    approval.set_threshold(team_a, 1, Actor.of(alice))
    seed_failed(emu, 2)
    full_sync(ws)
    op = drafts.create_draft(bob, action="mark_as_done", filter_query="")
    drafts.confirm(op, bob, reason="done by hand")
    with pytest.raises(approval.ApprovalError, match="their own"):
        approval.approve(op, bob, Actor.of(bob))
    approval.reject(op, alice, Actor.of(alice))
    op.refresh_from_db()
    assert op.state == BulkOperation.State.CANCELLED and op.cancelled_count == 2
    assert spy.per_row() == {}
    again = drafts.create_draft(alice, action="mark_as_done", filter_query="")
    assert again.total == 2  # released
    # Below the threshold (and retries) nothing waits.
    small = drafts.create_draft(bob, action="retry", filter_query="")
    drafts.confirm(small, bob, reason="retry")
    small.refresh_from_db()
    assert small.state == BulkOperation.State.QUEUED


@pytest.mark.parametrize(
    ("who", "policy_get", "policy_post", "approve"),
    [
        ("anonymous", 302, 302, 302),
        ("carol", 200, 403, 403),  # viewer
        ("bob", 200, 403, 302),  # operator (refused in the page: their own operation)
        ("alice", 200, 302, 302),  # admin
        ("charlie", 404, 404, 404),  # another team's admin
    ],
)
def test_approval_endpoints_per_role(
    db,
    ws,
    emu,
    alice,
    bob,
    carol,
    charlie,
    team_a,
    client_for,
    who,
    policy_get,
    policy_post,
    approve,
):
    from dashboard.bulk import approval

    users = {"alice": alice, "bob": bob, "carol": carol, "charlie": charlie}
    client = client_for(users.get(who))
    approval.set_threshold(team_a, 1, Actor.of(alice))
    seed_failed(emu, 2)
    full_sync(ws)
    op = drafts.create_draft(bob, action="delete", filter_query="")
    drafts.confirm(op, bob, reason="dupes")
    policy = reverse("bulk-approval-policy", args=[team_a.slug])
    assert client.get(policy).status_code == policy_get
    assert client.post(policy, {"threshold": "5"}).status_code == policy_post
    assert client.post(reverse("bulk-approve", args=[op.pk])).status_code == approve
    assert client.get(reverse("bulk-approve", args=[op.pk])).status_code in (302, 405)
    op.refresh_from_db()
    approved = op.state == BulkOperation.State.QUEUED
    assert approved is (who == "alice")
