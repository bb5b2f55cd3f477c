"""At 1400x900 the explorer's Apply is within reach and the results are in sight after it."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.dashboard.factories import make_team, make_user, make_workspace_row
from tests.dashboard.support.browser import left_the_login_page, log_in
from tests.dashboard.workitems.conftest import make_items, make_process

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _in_window(page: Page, selector: str) -> bool:
    return bool(
        page.evaluate(
            """(sel) => { const r = document.querySelector(sel).getBoundingClientRect();
                          return r.top >= 0 && r.top < window.innerHeight; }""",
            selector,
        )
    )


def test_apply_is_in_reach_and_the_results_come_into_view(
    live_server: Any, page: Page
) -> None:
    user = make_user("ada")
    team = make_team("Ops", admin=user)
    ws = make_workspace_row(team, name="Production")
    make_items(make_process(ws), 60, state="failed", exception_code="HTTP_ERROR")
    page.set_viewport_size({"width": 1400, "height": 900})
    log_in(page, live_server.url, "ada", then=left_the_login_page)
    page.goto(f"{live_server.url}/items/")
    apply = page.get_by_role("button", name="Apply")
    expect(apply).to_be_visible()
    assert _in_window(page, ".filter-buttons button")
    page.locator("input[name=message]").fill("")
    page.get_by_label("Exception code").fill("HTTP_ERROR")
    with page.expect_response(lambda r: "/items/?" in r.url):
        apply.click()
    expect(page.locator("#items-table tr.item-row").first).to_be_visible()
    assert _in_window(page, "#results")
