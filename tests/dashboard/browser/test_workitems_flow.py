"""An operator goes from a failure group to a fixed and retried work item."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from dashboard.accounts.models import Role
from dashboard.mirror.models import WorkItem
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


def test_triage_to_fixed_and_retried_item(
    live_server: Any, page: Page, emu: Any, tmp_path: Any
) -> None:
    admin = make_user("ada")
    operator = make_user("otto")
    team = make_team("Ops team", admin=admin)
    add_member(team, operator, Role.OPERATOR)
    workspace = workspace_on_emulator(emu, team, name="Production", added_by=admin)
    proc = failing_run(emu, items=3, mix=(0.0, 1.0, 0.0), name="Invoices")
    full_sync(workspace)
    base = live_server.url

    log_in(page, base, "otto", then=left_the_login_page)
    page.goto(f"{base}/items/triage/")
    expect(page.locator("#triage-table")).to_contain_text("usually transient — retry")
    page.locator("#triage-table a.group-link").first.click()

    # The explorer, filtered to the group (URL holds the filter).
    expect(page).to_have_url(re.compile(r"/items/\?.*signature="))
    rows = page.locator("#items-table tr.item-row")
    expect(rows.first).to_be_visible()
    expect(rows.first.locator(".badge").first).to_have_text("failed")
    rows.first.locator("a.item-link").click()

    # Fix the payload: a parse error first, then valid JSON.
    expect(page.get_by_role("heading", name=re.compile("Work item"))).to_be_visible()
    found = re.search(r"/items/(\d+)/", page.url)
    assert found is not None
    item_id = int(found.group(1))
    page.locator("#payload-editor summary").click()
    page.locator("#payload-text").fill('{\n  "order": 1,\n  "customer": ,\n}')
    page.locator("#save-payload").click()
    expect(page.locator("#payload-parse-error")).to_contain_text("line 3, column 15")
    page.locator("#payload-text").fill(
        '{"order": 1, "customer": {"email": "fixed@example.com"}}'
    )
    page.locator("#save-payload").click()
    expect(page.locator("#op-flash")).to_contain_text("Payload saved in Control Room.")
    expect(page.locator("#payload-tree")).to_contain_text("fixed@example.com")

    # Upload a file (sent through Control Room's upload URL).
    attachment = tmp_path / "corrected invoice.pdf"
    attachment.write_bytes(b"%PDF-1.4 corrected")
    page.locator("#upload-input").set_input_files(str(attachment))
    page.locator("#upload-button").click()
    expect(page.locator("#op-flash")).to_contain_text("Uploaded corrected invoice.pdf.")
    expect(page.locator("#file-list")).to_contain_text("corrected invoice.pdf")

    # Retry; the robot now succeeds (the data was the problem).
    emu.store.processes[emu.store.process_by_id[proc.id]].failure_rate = 0.0
    page.locator("#retry-button").click()
    expect(page.locator("#op-flash")).to_contain_text("Retry sent")
    expect(page.locator("#item-state")).to_contain_text("pending")

    # The emulator processes it; the next (in-process) sync re-reads the run the retry flagged;
    # the explorer row shows the new state.
    emu.advance(600)
    full_sync(workspace)
    external_id = WorkItem.objects.get(pk=item_id).external_id
    row = page.locator(f"#item-row-{item_id}")
    deadline = time.monotonic() + 20
    while True:
        page.goto(f"{base}/items/?payload=fixed%40example.com")
        if row.count() and "done" in row.locator(".badge").first.inner_text():
            break
        if time.monotonic() > deadline:
            raise AssertionError(
                f"item {external_id} never showed as done: {row.count()} rows"
            )
        time.sleep(0.5)
    expect(row.locator(".badge").first).to_have_text("done")


def test_row_retry_updates_row_and_counts_and_filters_push_the_url(
    live_server: Any, page: Page, emu: Any
) -> None:
    admin = make_user("ada")
    team = make_team("Ops team", admin=admin)
    workspace = workspace_on_emulator(emu, team, name="Production", added_by=admin)
    failing_run(emu, items=5, mix=(0.5, 0.4, 0.1), name="Invoices")
    full_sync(workspace)

    log_in(page, live_server.url, "ada", then=left_the_login_page)
    page.goto(f"{live_server.url}/items/?state=failed")
    first = page.locator("#items-table tr.item-row").first
    first.get_by_role("button", name="Retry").click()
    expect(first.locator(".badge").first).to_have_text("pending")  # the row, in place
    expect(page.locator("#op-flash")).to_contain_text("Retry sent")  # out of band
    expect(page.locator("#state-counts")).to_contain_text(
        "pending 1"
    )  # re-read on the event
    page.fill("input[name=message]", "no-such-message")
    expect(page.locator("#items-table")).to_contain_text("No work items match")
    expect(page).to_have_url(re.compile(r"message=no-such-message"))
