"""Working on failures together: owners, review status, comments and mentions, snoozes —
against the emulator over real HTTP (retries), with mention emails through a real SMTP
server on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from django.urls import reverse
from django.utils import timezone

from dashboard.accounts import services as account_services
from dashboard.accounts.models import Membership
from dashboard.audit.models import AuditEvent
from dashboard.audit.services import Actor
from dashboard.mirror.models import ProcessRun, WorkItem
from dashboard.workitems import actions, collab
from dashboard.workitems.actions import Outcome, Target
from dashboard.workitems.collab import CollabError, GroupKey
from dashboard.workitems.models import ItemHandling, Notification, ReviewStatus
from dashboard.workspaces.models import Workspace
from dashboard.workspaces.services import build_client
from tests.dashboard.support.sync import full_sync
from tests.dashboard.workitems.conftest import failing_run

pytestmark = [pytest.mark.django_db]
HX = {"HTTP_HX_REQUEST": "true"}
LIST = reverse("workitems-item-list")


def _failed(workspace: Workspace) -> list[WorkItem]:
    return list(
        WorkItem.objects.filter(workspace=workspace, state="failed")
        .select_related("workspace__team")
        .order_by("id")
    )


def _listed(client: Any, query: str) -> set[int]:
    html = client.get(f"{LIST}?{query}", **HX).content.decode()
    return {
        int(part.split('"', 1)[0])
        for part in html.split('id="item-row-')[1:]
        if part.split('"', 1)[0].isdigit()
    }


# --- ownership ----------------------------------------------------------------------------


@pytest.mark.emulator
def test_claim_assign_unassign_show_everywhere_and_are_audited(
    client_for, alice, bob, carol, charlie, emu_ws
):
    first, second, *_ = _failed(emu_ws)
    url = reverse("workitems-item-owner", args=[first.pk])
    html = client_for(bob).post(url, {"do": "claim"}, **HX).content.decode()
    assert 'id="collab-live"' in html and "<strong>bob</strong>" in html
    assert ItemHandling.objects.get(work_item=first).owner == bob

    # "My items" is bob's one item; alice sees it owned by bob in the explorer rows.
    assert _listed(client_for(bob), "owner=me") == {first.pk}
    assert _listed(client_for(alice), "owner=me") == set()
    assert second.pk in _listed(client_for(alice), "owner=none")
    assert "@bob" in client_for(alice).get(f"{LIST}?state=failed").content.decode()

    # Assign to alice (an admin); a viewer and someone of another team cannot own it.
    client_for(bob).post(url, {"do": "assign", "owner": alice.pk}, **HX)
    assert ItemHandling.objects.get(work_item=first).owner == alice
    refused = client_for(bob).post(url, {"do": "assign", "owner": carol.pk}, **HX)
    assert "not an operator" in refused.content.decode()
    refused = client_for(bob).post(url, {"do": "assign", "owner": charlie.pk}, **HX)
    assert "not a member of this team" in refused.content.decode()
    assert ItemHandling.objects.get(work_item=first).owner == alice

    # A viewer may look at the panel but not claim; another team sees nothing.
    assert client_for(carol).post(url, {"do": "claim"}).status_code == 403
    assert client_for(charlie).post(url, {"do": "claim"}).status_code == 404
    panel = reverse("workitems-item-collab", args=[first.pk])
    assert client_for(carol).get(panel).status_code == 200
    assert client_for(charlie).get(panel).status_code == 404

    client_for(bob).post(url, {"do": "unassign"}, **HX)
    assert ItemHandling.objects.get(work_item=first).owner is None
    events = list(
        AuditEvent.objects.filter(
            object_id=str(first.pk), action__startswith="work_item."
        )
        .order_by("id")
        .values_list("action", "actor_label", "summary")
    )
    assert [e[0] for e in events] == [
        "work_item.assign",
        "work_item.assign",
        "work_item.unassign",
    ]
    assert events[0][2].startswith("Claimed") and "Assigned to alice" in events[1][2]


def test_ticked_rows_are_claimed_in_scope_only(client_for, bob, carol, charlie, ws_a):
    from tests.dashboard.workitems.conftest import make_items, make_process

    a, b, c = make_items(make_process(ws_a), 3, state="failed")
    url = reverse("workitems-items-owner")
    ticked = {"do": "claim", "ids": [a.pk, b.pk], "filter": "state=failed"}
    response = client_for(carol).post(url, ticked, follow=True)
    assert "may not act" in response.content.decode()
    client_for(charlie).post(url, ticked)  # another team's items: not in scope
    assert not ItemHandling.objects.filter(owner__isnull=False).exists()
    response = client_for(bob).post(url, ticked)
    assert response["Location"].endswith("/items/?state=failed")
    owned = ItemHandling.objects.filter(owner=bob).values_list(
        "work_item_id", flat=True
    )
    assert set(owned) == {a.pk, b.pk}
    client_for(bob).post(url, {"do": "unassign", "ids": [a.pk]})
    assert set(
        ItemHandling.objects.filter(owner=bob).values_list("work_item_id", flat=True)
    ) == {b.pk}
    assert c.pk not in owned


@pytest.mark.emulator
def test_a_whole_triage_group_is_claimed_and_its_owners_counted(
    client_for, alice, bob, emu, emu_ws
):
    failing_run(emu, items=16)
    full_sync(emu_ws)
    # Sixteen items fail with a handful of messages: some group holds several.
    key = max(
        {GroupKey.of(i) for i in _failed(emu_ws)},
        key=lambda k: k.failed_items().count(),
    )
    items = list(key.failed_items())
    assert len(items) >= 2
    form = {**key.fields(), "workspace": emu_ws.pk, "do": "claim"}
    form.pop("workspace_id")
    response = client_for(bob).post(reverse("workitems-group"), form)
    assert response.status_code == 302
    assert set(
        ItemHandling.objects.filter(work_item__in=items).values_list(
            "owner__username", flat=True
        )
    ) == {"bob"}
    triage = client_for(alice).get(reverse("workitems-triage")).content.decode()
    assert f"@bob \u00d7{len(items)}" in triage


@pytest.mark.emulator
def test_a_member_removed_from_the_team_loses_their_assignments(
    alice, bob, team_a, emu_ws
):
    items = _failed(emu_ws)
    collab.claim(items[:2], Actor.of(bob))
    membership = Membership.objects.get(team=team_a, user=bob)
    account_services.remove_member(membership, alice)
    assert not ItemHandling.objects.filter(owner=bob).exists()
    dropped = AuditEvent.objects.filter(
        action="work_item.unassign", data__former_owner="bob"
    )
    assert dropped.count() == 2
    assert all("left the team" in e.summary for e in dropped)


# --- review status ------------------------------------------------------------------------


@pytest.mark.emulator
def test_retry_sets_retried_and_verified_items_are_kept_out_unless_included(
    client_for, alice, bob, emu_ws
):
    first, second, third, *_ = _failed(emu_ws)
    client_for(bob).post(
        reverse("workitems-item-review", args=[first.pk]),
        {"review_status": "verified"},
        **HX,
    )
    collab.set_review([second], ReviewStatus.IN_REVIEW, Actor.of(bob))
    assert _listed(client_for(alice), "review=verified") == {first.pk}
    assert _listed(client_for(alice), "review=in_review") == {second.pk}
    triage = client_for(alice).get(reverse("workitems-triage")).content.decode()
    assert "Verified 1" in triage and "In review 1" in triage

    # What bulk and policies call: verified stays out, the others are retried.
    with build_client(emu_ws) as client:
        verdicts = actions.apply(
            actions.RETRY,
            [Target.of(i) for i in (first, second)],
            Actor.of(bob),
            workspace=emu_ws,
            client=client,
        )
    outcome = {v.target.work_item_id: v for v in verdicts}
    assert outcome[first.pk].outcome is Outcome.SKIPPED
    assert "Verified by the team" in outcome[first.pk].message
    assert outcome[second.pk].outcome is Outcome.DONE
    with build_client(emu_ws) as client:
        assert client.work_items.get(first.external_id).state == "failed"
        assert client.work_items.get(second.external_id).state == "pending"
    assert ItemHandling.objects.get(work_item=second).review_status == "retried"

    # Included explicitly (or one click on the item's own Retry), it is retried.
    client_for(bob).post(reverse("workitems-item-action", args=[first.pk, "retry"]))
    assert ItemHandling.objects.get(work_item=first).review_status == "retried"
    # An item nobody reviewed gets a handling row with "retried" too.
    client_for(bob).post(reverse("workitems-item-action", args=[third.pk, "retry"]))
    assert ItemHandling.objects.get(work_item=third).review_status == "retried"


def test_an_unknown_review_status_is_refused(bob, ws_a):
    from tests.dashboard.workitems.conftest import make_items, make_process

    [item] = make_items(make_process(ws_a), 1, state="failed")
    with pytest.raises(CollabError, match="Unknown review status"):
        collab.set_review([item], "approved", Actor.of(bob))


# --- comments and mentions ----------------------------------------------------------------


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(
            (envelope.rcpt_tos, message_from_bytes(envelope.original_content))
        )
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_inbox(settings: Any, closed_port: int) -> Iterator[_Inbox]:
    """A real SMTP server on loopback; Django's SMTP backend sends to it."""
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=closed_port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", closed_port
    settings.WORKROOM_BASE_URL = "https://workroom.example.com"
    try:
        yield inbox
    finally:
        controller.stop()


def test_comments_render_escaped_group_comments_reach_future_items_and_mentions_notify(
    client_for, alice, bob, ws_a, smtp_inbox, django_capture_on_commit_callbacks
):
    from tests.dashboard.workitems.conftest import make_items, make_process

    alice.email = "alice@example.com"
    alice.save()
    process = make_process(ws_a)
    fields: dict[str, Any] = {
        "exception_type": "application",
        "exception_code": "ERP_DOWN",
        "exception_message": "ERP unreachable for order 4711",
    }
    first, second = make_items(process, 2, state="failed", **fields)
    url = reverse("workitems-item-comment", args=[first.pk])
    with django_capture_on_commit_callbacks(execute=True):
        html = (
            client_for(bob)
            .post(
                url,
                {
                    "body": "<script>alert(1)</script> see https://erp.example.com/x\n"
                    "@alice can you check?"
                },
                **HX,
            )
            .content.decode()
        )
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html
    assert 'href="https://erp.example.com/x"' in html and "<br>" in html
    # alice is told in the app and by email; bob (the author) is not.
    notice = Notification.objects.get(user=alice)
    assert "bob mentioned you" in notice.text and notice.url.endswith(f"/{first.pk}/")
    assert not Notification.objects.filter(user=bob).exists()
    [(to, mail)] = smtp_inbox.messages
    assert to == ["alice@example.com"]
    assert f"https://workroom.example.com/items/{first.pk}/" in mail.get_payload()
    page = client_for(alice).get(reverse("workitems-notifications")).content.decode()
    assert "bob mentioned you" in page and 'title="Unread mentions"' in page
    client_for(alice).post(reverse("workitems-notifications"))
    assert not collab.unread_notifications(alice).exists()

    # A group comment shows on every item of the group, and on items failing later
    # (another order number: the same normalised message).
    collab.add_comment(
        Actor.of(alice), "ERP down, retry after 09:00", group=GroupKey.of(first)
    )
    fields["exception_message"] = "ERP unreachable for order 9000"
    [later] = make_items(process, 1, state="failed", start=7, **fields)
    [unrelated] = make_items(process, 1, state="failed", start=8)
    for item, shown in ((second, True), (later, True), (unrelated, False)):
        panel = client_for(bob).get(reverse("workitems-item-collab", args=[item.pk]))
        assert ("ERP down, retry after 09:00" in panel.content.decode()) is shown
    assert AuditEvent.objects.filter(action="failure_group.comment").count() == 1
    triage = client_for(bob).get(reverse("workitems-triage")).content.decode()
    assert "1 comment" in triage and "alice: ERP down, retry after 09:00" in triage


def test_empty_and_oversized_comments_are_refused_with_a_message(client_for, bob, ws_a):
    from tests.dashboard.workitems.conftest import make_items, make_process

    [item] = make_items(make_process(ws_a), 1, state="failed")
    url = reverse("workitems-item-comment", args=[item.pk])
    html = client_for(bob).post(url, {"body": "   "}, **HX).content.decode()
    assert "Write something to comment." in html
    html = client_for(bob).post(url, {"body": "x" * 5001}, **HX).content.decode()
    assert "at most 5,000 characters" in html
    assert not item.comments.exists()


def test_a_mail_server_down_does_not_lose_the_comment(
    settings, alice, bob, ws_a, closed_port, django_capture_on_commit_callbacks
):
    from tests.dashboard.workitems.conftest import make_items, make_process

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", closed_port
    alice.email = "alice@example.com"
    alice.save()
    [item] = make_items(make_process(ws_a), 1, state="failed")
    with django_capture_on_commit_callbacks(execute=True):
        collab.add_comment(Actor.of(bob), "@alice look", item=item)
    assert item.comments.count() == 1
    assert Notification.objects.filter(user=alice).count() == 1


# --- snooze -------------------------------------------------------------------------------


def test_snoozed_items_leave_the_inbox_and_come_back_by_themselves(
    client_for, bob, ws_a, time_machine
):
    from tests.dashboard.workitems.conftest import make_items, make_process

    a, b = make_items(make_process(ws_a), 2, state="failed")
    url = reverse("workitems-item-snooze", args=[a.pk])
    past = client_for(bob).post(url, {"until": "2001-01-01T09:00"}, **HX)
    assert "a moment in the future" in past.content.decode()
    until = (timezone.localtime() + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    client_for(bob).post(url, {"until": until}, **HX)
    assert _listed(client_for(bob), "state=failed") == {b.pk}
    chips = client_for(bob).get(f"{LIST}?state=failed", **HX).content.decode()
    assert '<span class="badge badge-failed">failed</span> <strong>1</strong>' in chips
    assert _listed(client_for(bob), "state=failed&snoozed=only") == {a.pk}
    assert _listed(client_for(bob), "state=failed&snoozed=include") == {a.pk, b.pk}
    shown = client_for(bob).get(f"{LIST}?snoozed=only", **HX).content.decode()
    assert shown.count('class="badge badge-neutral snoozed"') == 1
    time_machine.move_to(timezone.now() + timedelta(hours=3))
    assert _listed(client_for(bob), "state=failed") == {a.pk, b.pk}
    assert AuditEvent.objects.filter(action="work_item.snooze").count() == 1


def test_a_snooze_until_the_next_run_ends_when_the_mirror_sees_a_new_run(
    client_for, bob, ws_a
):
    from tests.dashboard.workitems.conftest import make_items, make_process

    process = make_process(ws_a)
    a, b = make_items(process, 2, state="failed")
    client_for(bob).post(
        reverse("workitems-item-snooze", args=[a.pk]), {"next_run": "1"}, **HX
    )
    assert _listed(client_for(bob), "state=failed") == {b.pk}
    ProcessRun.objects.create(
        workspace=ws_a,
        process=process,
        process_external_id=process.external_id,
        external_id="run-after-snooze",
        state="in_progress",
        created_at=timezone.now() + timedelta(seconds=1),
    )
    assert _listed(client_for(bob), "state=failed") == {a.pk, b.pk}


def test_a_snoozed_group_hides_its_items_new_ones_too_until_woken(
    client_for, bob, ws_a
):
    from tests.dashboard.workitems.conftest import make_items, make_process

    process = make_process(ws_a)
    fields: dict[str, Any] = {
        "exception_type": "business",
        "exception_code": "ERP",
        "exception_message": "ERP down",
    }
    group = make_items(process, 2, state="failed", **fields)
    other = make_items(process, 1, state="failed", start=5)
    key = GroupKey.of(group[0])
    collab.snooze_group(key, Actor.of(bob), until=timezone.now() + timedelta(days=1))
    later = make_items(process, 1, state="failed", start=9, **fields)
    assert _listed(client_for(bob), "state=failed") == {other[0].pk}
    triage = client_for(bob).get(reverse("workitems-triage")).content.decode()
    assert "ERP down" not in triage
    shown = client_for(bob).get(reverse("workitems-triage") + "?snoozed=include")
    assert "ERP down" in shown.content.decode()
    collab.unsnooze_group(key, Actor.of(bob))
    assert _listed(client_for(bob), "state=failed") == {
        group[0].pk,
        group[1].pk,
        other[0].pk,
        later[0].pk,
    }


def test_group_actions_from_triage_and_their_messages(client_for, alice, bob, ws_a):
    from tests.dashboard.workitems.conftest import make_items, make_process

    fields: dict[str, Any] = {
        "exception_type": "business",
        "exception_code": "VAT",
        "exception_message": "VAT id 123 invalid",
    }
    items = make_items(make_process(ws_a), 3, state="failed", **fields)
    key = GroupKey.of(items[0])
    base = {**key.fields(), "workspace": ws_a.pk, "next": "/items/triage/?x=1"}
    base.pop("workspace_id")
    url = reverse("workitems-group")
    client = client_for(bob)

    def post(**data: Any) -> str:
        response = client.post(url, {**base, **data}, follow=True)
        assert response.redirect_chain[0][0] == "/items/triage/?x=1"
        return response.content.decode()

    assert "Assigned 3 item(s) of the group to alice." in post(
        do="assign", owner=alice.pk
    )
    assert "Choose a team member" in post(do="assign", owner="x")
    assert "Review status of 3 item(s) set to In review." in post(
        do="review", review_status="in_review"
    )
    assert "Unknown review status" in post(do="review", review_status="bogus")
    assert "Choose a date and time" in post(do="snooze", until="soon")
    assert "Choose a date and time" in post(do="snooze", until="2030-02-31T09:00")
    assert "Snoozed the group" in post(do="snooze", next_run="1")
    assert _listed(client, "state=failed") == set()
    assert "Woke the group up." in post(do="wake")
    assert _listed(client, "state=failed") == {i.pk for i in items}
    assert "Write something to comment." in post(do="comment", body=" ")
    assert "Comment added to the group" in post(do="comment", body="ask finance")
    assert "Unassigned 3 item(s)" in post(do="unassign")
    assert "Unknown group action." in post(do="explode")
    # An unsafe "next" is never followed; a workspace that is not a number is a 404.
    response = client.post(url, {**base, "do": "wake", "next": "//evil.example"})
    assert response["Location"] == reverse("workitems-triage")
    assert client.post(url, {**base, "workspace": "x"}).status_code == 404
    actions = set(
        AuditEvent.objects.filter(action__startswith="failure_group.").values_list(
            "action", flat=True
        )
    )
    assert actions == {
        "failure_group.snooze",
        "failure_group.unsnooze",
        "failure_group.comment",
    }


def test_a_large_group_is_audited_in_one_event(bob, ws_a, monkeypatch):
    from tests.dashboard.workitems.conftest import make_items, make_process

    items = make_items(make_process(ws_a), 5, state="failed")
    monkeypatch.setattr(collab, "AUDIT_EACH_UP_TO", 3)
    assert collab.claim(items, Actor.of(bob)) == 5
    [event] = AuditEvent.objects.filter(action="work_item.assign")
    assert event.summary == "Claimed (5 work items)" and event.data["items"] == 5
    assert len(event.data["work_item_ids"]) == 5
