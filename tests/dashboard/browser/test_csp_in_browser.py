"""The strict CSP holds in a real Chromium: no violations, htmx runs, stale-token htmx posts reload."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Page, expect

from tests.dashboard.support.browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "browser-csp-passphrase-1"

RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(e.violatedDirective + " " + e.blockedURI);
});
"""


def _log_in(page: Page, base: str) -> None:
    log_in(
        page,
        base,
        "csp-user",
        PASSWORD,
        then=lambda p: p.wait_for_url(re.compile(r"/$")),
    )


def test_pages_run_under_the_policy_without_violations(
    live_server: Any, page: Page
) -> None:
    get_user_model().objects.create_user("csp-user", password=PASSWORD)
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    page.add_init_script(RECORD_VIOLATIONS)

    _log_in(page, live_server.url)
    page.goto(f"{live_server.url}/password/change/")
    expect(page.get_by_role("heading", name="Change password")).to_be_visible()

    assert page.evaluate("typeof window.htmx") == "object"
    assert page.evaluate("htmx.config.allowEval") is False
    assert page.evaluate("htmx.config.includeIndicatorStyles") is False
    assert page.evaluate("document.querySelectorAll('style').length") == 0
    assert page.evaluate("window.__cspViolations") == []
    assert not [text for text in console if "Content Security Policy" in text]


def test_an_htmx_post_with_a_stale_token_reloads_and_explains(
    live_server: Any, page: Page
) -> None:
    get_user_model().objects.create_user("csp-user", password=PASSWORD)
    reloads: list[str] = []
    _log_in(page, live_server.url)
    page.goto(f"{live_server.url}/password/change/")
    page.on("framenavigated", lambda frame: reloads.append(frame.url))

    # What a second tab sees after a login elsewhere rotated the token: htmx sends a stale one.
    page.evaluate(
        """() => {
          document.body.setAttribute("hx-headers", JSON.stringify({"X-CSRFToken": "stale-token"}));
          const button = document.createElement("button");
          button.id = "stale-post";
          button.textContent = "Stale post";
          button.setAttribute("hx-post", "/logout/");
          document.querySelector("main").appendChild(button);
          htmx.process(button);
        }"""
    )
    with page.expect_response(lambda r: r.url.endswith("/logout/")) as answer:
        page.click("#stale-post")
    assert answer.value.status == 403
    expect(page.get_by_text("Your session changed")).to_be_visible()
    assert reloads  # htmx followed HX-Refresh
    # Still logged in: the stale request changed nothing.
    expect(page.get_by_role("heading", name="Change password")).to_be_visible()
