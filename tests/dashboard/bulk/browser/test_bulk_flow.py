"""An operator retries all failed items of a filter from the browser and watches it finish:
filter → select all matching → preview → confirm with a reason → live progress → results."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from dashboard.audit.models import AuditEvent
from dashboard.bulk.models import BulkOperation
from tests.dashboard.bulk.helpers import seed_failed
from tests.dashboard.support.browser import loaded, log_in
from tests.dashboard.support.sync import full_sync

pytestmark = [
    pytest.mark.browser,
    pytest.mark.emulator,
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
]


def test_operator_retries_all_matching_and_watches_it_finish(
    live_server: Any,
    page: Page,
    ws: Any,
    emu: Any,
    bob: Any,
    spy: Any,
    start_worker: Any,
) -> None:
    seed_failed(emu, 250)
    full_sync(ws)
    emu.faults.add(kind="latency", latency_ms=300, path=r"/work-items/batch$")
    start_worker()
    base = live_server.url
    log_in(page, base, "bob", then=loaded)

    page.goto(f"{base}/items/?state=failed")
    select_all = page.locator("#bulk-select-all-matching")
    if select_all.count():  # the explorer's selection UI
        select_all.check()
        page.locator("#bulk-action").select_option("retry")
        page.locator("#bulk-submit").click()
    else:  # the same request the explorer makes, reached by URL
        page.goto(f"{base}/bulk/new/?state=failed&action=retry")
        expect(page.locator("#match-total")).to_have_text("250")
        page.get_by_role("button", name="Preview").click()

    expect(
        page.get_by_role("heading", name=re.compile("Preview: retry 250"))
    ).to_be_visible()
    page.get_by_label("Reason (required)").fill("SAP was down overnight")
    page.locator("#confirm-button").click()

    expect(page.locator("#progress")).to_be_visible()
    # Live: the counters move while chunks run (HTMX polling), then the summary appears.
    expect(page.locator("#count-done")).not_to_have_text(
        re.compile(r"^0 sent"), timeout=20_000
    )
    expect(page.locator("#final-summary")).to_contain_text(
        "250 retried", timeout=30_000
    )
    expect(page.locator("#op-state")).to_have_text("Succeeded")
    expect(page.locator("#result-table tbody tr.result-done")).to_have_count(100)

    op = BulkOperation.objects.get()
    assert op.done_count == 250 and op.reason == "SAP was down overnight"
    assert set(spy.per_row().values()) == {1} and len(spy.per_row()) == 250
    assert AuditEvent.objects.filter(
        object_id=str(op.pk), action="bulk.retry.finished", actor=bob
    ).exists()
