"""Browser tests of retry policies (the setup of tests/dashboard/support/browser.py)."""

from __future__ import annotations

from tests.dashboard.support.browser import browser_type_launch_args  # noqa: F401
