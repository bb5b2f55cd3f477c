"""Browser tests of bulk operations: Playwright's sync API with the system Chromium (the same
setup as tests/dashboard/browser/, from tests/dashboard/support/browser.py)."""

from __future__ import annotations

from tests.dashboard.support.browser import browser_type_launch_args  # noqa: F401
