"""Browser tests of the alert pages (system Chromium, tests/dashboard/support/browser.py)."""

from __future__ import annotations

from tests.dashboard.support.browser import browser_type_launch_args  # noqa: F401
