"""On a phone (390 px) an explorer row is a card that shows the process and the exception
without scrolling sideways, and the filter panels start folded."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.dashboard.factories import make_team, make_user, make_workspace_row
from tests.dashboard.support.browser import left_the_login_page, log_in
from tests.dashboard.workitems.conftest import make_items, make_process

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _inside_screen(page: Page, selector: str) -> bool:
    return bool(
        page.evaluate(
            """(sel) => { const r = document.querySelector(sel).getBoundingClientRect();
                          return r.width > 0 && r.left >= 0 && r.right <= window.innerWidth; }""",
            selector,
        )
    )


def test_rows_show_process_and_exception_on_a_phone(
    live_server: Any, page: Page
) -> None:
    user = make_user("ada")
    team = make_team("Ops", admin=user)
    ws = make_workspace_row(team, name="Production")
    make_items(
        make_process(ws, "Invoice posting"),
        3,
        state="failed",
        exception_type="business",
        exception_code="INVALID_IBAN",
        exception_message="IBAN of customer 17 is invalid",
    )
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, live_server.url, "ada", then=left_the_login_page)
    page.goto(f"{live_server.url}/items/")
    row = page.locator("#items-table tr.item-row").first
    expect(row).to_be_visible()
    for cell in ("td.proc-cell", "td.exc"):
        assert _inside_screen(page, f"#items-table tr.item-row {cell}")
    expect(row.locator("td.proc-cell")).to_contain_text("Invoice posting")
    expect(row.locator("td.exc")).to_contain_text("INVALID_IBAN")
    expect(row.locator("td.exc")).to_contain_text("IBAN of customer 17 is invalid")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), (
        "the page is wider than the phone"
    )
    # Filters first fold away, so the results come first; a tap opens them.
    panel = page.locator("#filters-panel")
    assert panel.evaluate("p => !p.open")
    page.locator("#filters-panel > summary").click()
    expect(page.get_by_label("Exception code")).to_be_visible()
    page.goto(f"{live_server.url}/items/triage/")
    assert page.locator("#triage-filters-panel").evaluate("p => !p.open")
