"""The undo window (mark done / delete held, then sent by a Celery task unless undone) and
the payload history, against the emulator over real HTTP; one test runs a real worker."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from dashboard.audit.models import AuditEvent
from dashboard.audit.services import Actor
from dashboard.mirror.models import WorkItem
from dashboard.workitems import undo
from dashboard.workitems.models import PayloadVersion, PendingAction
from dashboard.workspaces.models import Workspace
from dashboard.workspaces.services import build_client
from robocorp_api import errors as cr
from tests.dashboard.support.workers import Workers, wait_until

pytestmark = [pytest.mark.django_db, pytest.mark.emulator]
HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def one_second_window(settings: Any) -> None:
    settings.WORKROOM_UNDO_SECONDS = 1


def _failed(workspace: Workspace) -> list[WorkItem]:
    return list(
        WorkItem.objects.filter(workspace=workspace, state="failed")
        .select_related("workspace__team")
        .order_by("id")
    )


def _remote_state(workspace: Workspace, item: WorkItem) -> str:
    with build_client(workspace) as client:
        try:
            return client.work_items.get(item.external_id).state
        except cr.NotFound:
            return "gone"


def _past_due(pending: PendingAction) -> None:
    PendingAction.objects.filter(pk=pending.pk).update(
        due_at=timezone.now() - timedelta(seconds=1)
    )


def test_mark_done_waits_for_the_window_and_an_undo_sends_nothing(
    client_for, alice, bob, emu_ws
):
    item = _failed(emu_ws)[0]
    url = reverse("workitems-item-action", args=[item.pk, "mark_as_done"])
    html = client_for(bob).post(url, **HX).content.decode()
    assert "will be sent to Control Room in 1 s" in html and "undo-button" in html
    pending = PendingAction.objects.get()
    assert pending.status == "pending" and pending.work_item_ids == [item.pk]
    assert _remote_state(emu_ws, item) == "failed"
    # While it waits, the item page offers Undo, not a second mark done.
    page = client_for(alice).get(reverse("workitems-item-detail", args=[item.pk]))
    html = page.content.decode()
    assert 'id="done-button" disabled title="Waiting to be sent' in html
    assert "undo-button" in html

    undone = client_for(bob).post(
        reverse("workitems-pending-undo", args=[pending.pk]), **HX
    )
    assert "Undone: nothing was sent" in undone.content.decode()
    _past_due(pending)
    assert undo.send(pending.pk).status == "not-due-or-decided"
    assert undo.send_overdue() == 0
    assert _remote_state(emu_ws, item) == "failed"
    pending.refresh_from_db()
    assert pending.status == "undone"
    actions = list(
        AuditEvent.objects.filter(action__startswith="work_item.")
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == ["work_item.hold", "work_item.undo"]
    history = client_for(alice).get(reverse("workitems-item-detail", args=[item.pk]))
    html = history.content.decode()
    assert "Mark done of 1 item(s) held for 1 s" in html
    assert "Undid mark done of 1 item(s) before it was sent" in html


def test_a_held_delete_is_sent_once_when_due_and_can_no_longer_be_undone(
    client_for, bob, emu_ws
):
    item = _failed(emu_ws)[0]
    client_for(bob).post(
        reverse("workitems-item-action", args=[item.pk, "delete"]),
        {"from": "row"},
        **HX,
    )
    pending = PendingAction.objects.get()
    assert undo.send(pending.pk).status == "early"  # not before its time
    assert _remote_state(emu_ws, item) == "failed"
    _past_due(pending)
    assert undo.send(pending.pk).status == "sent"
    assert undo.send(pending.pk).status == "not-due-or-decided"  # a duplicate delivery
    assert _remote_state(emu_ws, item) == "gone"
    pending.refresh_from_db()
    assert pending.status == "sent" and pending.outcome["counts"] == {"done": 1}
    with pytest.raises(undo.UndoError, match="Too late"):
        undo.undo(pending.pk, Actor.of(bob))
    deleted = AuditEvent.objects.get(action="work_item.delete")
    assert deleted.actor_label == "bob" and deleted.data["outcome"] == "ok"


def test_retry_is_sent_at_once_even_with_a_window(client_for, bob, emu_ws):
    item = _failed(emu_ws)[0]
    client_for(bob).post(reverse("workitems-item-action", args=[item.pk, "retry"]))
    assert not PendingAction.objects.exists()
    assert _remote_state(emu_ws, item) == "pending"


def test_the_sweep_sends_a_held_action_whose_task_was_lost(bob, emu_ws):
    items = _failed(emu_ws)[:2]
    pending = undo.hold("mark_as_done", items, Actor.of(bob))  # no task: not committed
    _past_due(pending)
    assert undo.send_overdue() == 1
    assert {_remote_state(emu_ws, i) for i in items} == {"done"}


def test_a_viewer_cannot_hold_or_undo(client_for, bob, carol, emu_ws):
    item = _failed(emu_ws)[0]
    url = reverse("workitems-item-action", args=[item.pk, "mark_as_done"])
    assert client_for(carol).post(url).status_code == 403
    pending = undo.hold("mark_as_done", [item], Actor.of(bob))
    undo_url = reverse("workitems-pending-undo", args=[pending.pk])
    assert client_for(carol).post(undo_url).status_code == 403
    pending.refresh_from_db()
    assert pending.status == "pending"


@pytest.fixture
def undo_queue(settings: Any, redis_client: Any) -> Iterator[str]:
    name = f"undo-test-{uuid.uuid4().hex[:10]}"
    settings.WORKROOM_UNDO_QUEUE = name
    yield name
    redis_client.delete(name)


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_sends_the_held_action_when_the_window_ends(
    client_for, bob, emu_ws, subprocess_env, undo_queue, tmp_path
):
    item = _failed(emu_ws)[0]
    with Workers(
        queue=undo_queue,
        env={**subprocess_env, "WORKROOM_UNDO_QUEUE": undo_queue},
        log_dir=tmp_path,
        name="undo",
    ) as workers:
        worker = workers.start()
        started = time.monotonic()
        client_for(bob).post(
            reverse("workitems-item-action", args=[item.pk, "mark_as_done"])
        )
        pending = PendingAction.objects.get()
        wait_until(
            lambda: PendingAction.objects.get(pk=pending.pk).status == "sent",
            timeout=60,
            interval=0.2,
        )
        assert time.monotonic() - started >= 0.9, worker.output()
    assert _remote_state(emu_ws, item) == "done"


# --- payload history ----------------------------------------------------------------------


def test_payload_edits_are_versioned_diffed_and_reverted_through_the_core(
    client_for, alice, bob, carol, charlie, emu_ws
):
    item = _failed(emu_ws)[0]
    client = client_for(bob)
    client.get(reverse("workitems-item-detail", args=[item.pk]))  # reads the payload
    item.refresh_from_db()
    original = item.payload
    assert isinstance(original, dict)
    payload_url = reverse("workitems-item-payload", args=[item.pk])
    fixed = {**original, "customer": {"email": "fixed@example.com"}, "note": "<b>"}
    client.post(payload_url, {"payload": json.dumps(fixed)}, **HX)
    client_for(alice).post(
        payload_url, {"payload": json.dumps({**fixed, "order": 7})}, **HX
    )
    assert list(
        PayloadVersion.objects.filter(work_item=item)
        .order_by("number")
        .values_list("number", "author_label")
    ) == [(1, "bob"), (2, "alice")]

    history = reverse("workitems-item-payload-history", args=[item.pk])
    page = client_for(carol).get(history + "?a=0&b=1").content.decode()
    assert "<code>/customer/email</code>" in page and "fixed@example.com" in page
    assert "<code>/note</code>" in page and "&quot;&lt;b&gt;&quot;" in page
    assert "Restore this version" not in page  # a viewer reads, never reverts
    assert client_for(charlie).get(history).status_code == 404
    latest = client.get(history, **HX).content.decode()  # default: 1 → 2
    assert "<code>/order</code>" in latest and "/customer" not in latest
    assert client.get(history + "?a=9&b=1").status_code == 404

    response = client.post(
        reverse("workitems-item-payload-revert", args=[item.pk]), {"version": "0"}
    )
    assert response.status_code == 302
    with build_client(emu_ws) as cr_client:
        assert cr_client.work_items.get(item.external_id).payload == original
    third = PayloadVersion.objects.get(work_item=item, number=3)
    assert third.after == original and third.note == "revert to version 0"
    assert AuditEvent.objects.filter(action="work_item.edit_payload").count() == 3


def test_a_key_that_cannot_be_opened_ends_the_held_action_with_a_message(
    bob, emu_ws, team_b
):
    from tests.dashboard.factories import make_workspace_row

    item = _failed(emu_ws)[0]
    pending = undo.hold("mark_as_done", [item], Actor.of(bob))
    # A ciphertext bound to another row does not open here (secretbox fails closed).
    Workspace.objects.filter(pk=emu_ws.pk).update(
        api_key_ciphertext=make_workspace_row(team_b).api_key_ciphertext
    )
    _past_due(pending)
    assert undo.send(pending.pk).status == "failed"
    pending.refresh_from_db()
    assert pending.status == "sent" and pending.outcome["counts"] == {"failed": 1}
    assert undo.send_overdue() == 0  # never retried by the sweep


def test_a_payload_with_a_nul_character_is_versioned_not_a_500(client_for, bob, emu_ws):
    """Found by schemathesis on PostgreSQL: jsonb cannot hold NUL, so the version keeps the
    payload as the mirror does (NUL replaced), instead of the edit failing after Control
    Room already took it."""
    item = _failed(emu_ws)[0]
    client = client_for(bob)
    payload_url = reverse("workitems-item-payload", args=[item.pk])
    answer = client.post(
        payload_url, {"payload": json.dumps({"k\u0000ey": "v\u0000"})}, **HX
    )
    assert answer.status_code == 200
    [version] = PayloadVersion.objects.filter(work_item=item)
    assert version.after == {"k\ufffdey": "v\ufffd"}
