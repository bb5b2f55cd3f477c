"""Two operators in two browsers work one failure group together: claim → comment → split the
group → fix the payload and see its diff → retry; mark done → undo. Each sees the other's claim and comment
without reloading, and the audit log tells the whole story."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from dashboard.accounts.models import Role
from dashboard.audit.models import AuditEvent
from dashboard.mirror.models import WorkItem
from dashboard.workitems.models import Notification, PendingAction
from dashboard.workspaces.services import build_client
from tests.dashboard.factories import add_member, make_team, make_user
from tests.dashboard.support.browser import left_the_login_page, log_in
from tests.dashboard.support.sync import full_sync
from tests.dashboard.support.workspaces import workspace_on_emulator
from tests.dashboard.workitems.conftest import failing_run

pytestmark = [
    pytest.mark.browser,
    pytest.mark.emulator,
    pytest.mark.django_db(transaction=True),
]
LIVE = 15_000  # ms: the panels poll every 3 s; generous on a loaded machine


def _open(browser: Browser, base: str, username: str) -> Page:
    page = browser.new_context().new_page()
    log_in(page, base, username, then=left_the_login_page)
    return page


def test_two_operators_share_a_failure_group(
    live_server: Any, browser: Browser, emu: Any, settings: Any, redis_client: Any
) -> None:
    settings.WORKROOM_UNDO_SECONDS = 4
    settings.WORKROOM_UNDO_QUEUE = f"undo-browser-{uuid.uuid4().hex[:8]}"
    admin, otto, olga = make_user("ada"), make_user("otto"), make_user("olga")
    team = make_team("Ops team", admin=admin)
    add_member(team, otto, Role.OPERATOR)
    add_member(team, olga, Role.OPERATOR)
    workspace = workspace_on_emulator(emu, team, name="Production", added_by=admin)
    failing_run(emu, items=3, mix=(0.0, 1.0, 0.0), name="Invoices")
    full_sync(workspace)
    first, second, *_ = WorkItem.objects.filter(state="failed").order_by("id")
    base = live_server.url
    o, g = _open(browser, base, "otto"), _open(browser, base, "olga")
    try:
        o.goto(f"{base}/items/{first.pk}/")
        g.goto(f"{base}/items/{first.pk}/")

        # Otto claims the item; Olga's open page shows it without a reload.
        o.locator("#claim-button").click()
        expect(o.locator("#item-owner")).to_contain_text("otto")
        expect(g.locator("#item-owner")).to_contain_text("otto", timeout=LIVE)

        # Olga comments; Otto sees it, escaped, on his open page.
        g.locator("#comment-body").fill("ERP was down <b>until</b> 09:00 @otto")
        g.locator("#comment-button").click()
        expect(g.locator("#comment-body")).to_have_value("")
        expect(o.locator("#comments")).to_contain_text(
            "ERP was down <b>until</b> 09:00", timeout=LIVE
        )

        # Olga takes the rest of the group from the explorer: the group is split.
        g.goto(f"{base}/items/?state=failed&owner=none")
        boxes = g.locator("#items-table input[name=ids]")
        expect(boxes).to_have_count(2)
        boxes.nth(0).check()
        boxes.nth(1).check()
        g.locator("#claim-ticked").click()
        expect(g.locator(".messages")).to_contain_text("You own 2 more item(s).")
        o.goto(f"{base}/items/?state=failed")
        expect(o.locator("#items-table")).to_contain_text("@olga")
        expect(o.locator("#items-table")).to_contain_text("@otto")

        # Otto fixes the payload, then reads the diff in the payload history.
        o.goto(f"{base}/items/{first.pk}/")
        o.locator("#payload-editor summary").click()
        payload = json.loads(o.locator("#payload-text").input_value())
        payload["customer"] = {"email": "fixed@example.com"}
        o.locator("#payload-text").fill(json.dumps(payload))
        o.locator("#save-payload").click()
        expect(o.locator("#op-flash")).to_contain_text("Payload saved")
        o.locator("#payload-history-link").click()
        expect(o.locator("#diff-table")).to_contain_text("/customer/email")
        expect(o.locator("#diff-table")).to_contain_text("fixed@example.com")
        o.goto(f"{base}/items/{first.pk}/")
        o.locator("#retry-button").click()
        expect(o.locator("#item-state")).to_contain_text("pending")
        expect(o.locator("#item-review")).to_contain_text("Retried")

        # Olga marks another item done, then undoes it within the window.
        g.goto(f"{base}/items/{second.pk}/")
        g.locator("#done-button").click()
        expect(g.locator("#op-flash")).to_contain_text("will be sent to Control Room")
        g.locator("#collab-live .undo-button").click()
        expect(g.locator(".held-action")).to_contain_text("Undone")
        g.wait_for_timeout(5_000)  # past the window: nothing may have been sent
    finally:
        redis_client.delete(settings.WORKROOM_UNDO_QUEUE)
        o.context.close()
        g.context.close()

    with build_client(workspace) as client:
        assert client.work_items.get(second.external_id).state == "failed"
        assert client.work_items.get(first.external_id).state == "pending"
    assert PendingAction.objects.get().status == "undone"
    story = list(
        AuditEvent.objects.filter(action__startswith="work_item.")
        .order_by("id")
        .values_list("action", "actor_label")
    )
    assert story == [
        ("work_item.assign", "otto"),
        ("work_item.comment", "olga"),
        ("work_item.assign", "olga"),
        ("work_item.assign", "olga"),
        ("work_item.edit_payload", "otto"),
        ("work_item.retry", "otto"),
        ("work_item.hold", "olga"),
        ("work_item.undo", "olga"),
    ]
    # Olga's @otto reached Otto's mentions.
    assert Notification.objects.get(user=otto).text.startswith("olga mentioned you")
