"""Browser tests: Playwright's sync API driving the system Chromium (never `playwright install`).

Import this module's fixture into the conftest (or module) of every browser test:
`from tests.dashboard.support.browser import browser_type_launch_args  # noqa: F401`, and log in
with `log_in(page, live_server.url, username)`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.dashboard.factories import PASSWORD

# Playwright's sync API runs an event loop in the test thread; Django would otherwise refuse
# ORM calls from it (SynchronousOnlyOperation). Set when a browser test module is collected.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser_type_launch_args(
    browser_type_launch_args: dict[str, Any],
) -> dict[str, Any]:
    """pytest-playwright's launch arguments, pointed at the system Chromium."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium)."
        )
    return {
        **browser_type_launch_args,
        "executable_path": str(CHROMIUM),
        "args": list(CHROMIUM_ARGS),
    }


def sees_your_teams(page: Page) -> None:
    """Landed on the home page: "Your teams" is shown."""
    expect(page.get_by_text("Your teams")).to_be_visible()


def left_the_login_page(page: Page) -> None:
    page.wait_for_url(re.compile(r"/(?!login)"))


def loaded(page: Page) -> None:
    page.wait_for_load_state()


def log_in(
    page: Page,
    base_url: str,
    username: str,
    password: str = PASSWORD,
    *,
    then: Callable[[Page], object] = loaded,
) -> None:
    """Log in through the login form, then wait (or check) with `then(page)`."""
    page.goto(f"{base_url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name=re.compile("log in", re.IGNORECASE)).click()
    then(page)


AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "4.14.1" / "axe.min.js"
SERIOUS = ("serious", "critical")


def axe_violations(page: Page, impacts: tuple[str, ...] = SERIOUS) -> list[str]:
    """Run axe-core (vendored) on the page; return its violations of these impacts as
    "rule: help (n nodes: selector, …)" lines. Evaluated through the DevTools protocol, so
    the page's CSP (no inline scripts) does not stand in the way."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(AXE.read_text(encoding="utf-8"))
    found = page.evaluate(
        """async (impacts) => {
          const result = await axe.run(document, {resultTypes: ["violations"]});
          return result.violations
            .filter((v) => impacts.includes(v.impact))
            .map((v) => `${v.id}: ${v.help} (${v.nodes.length} nodes: ` +
              v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ") + ")");
        }""",
        list(impacts),
    )
    return [str(line) for line in found]
