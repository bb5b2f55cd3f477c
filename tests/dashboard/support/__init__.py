"""Test infrastructure shared by the dashboard suites, one way of doing each thing:

- `workspaces.workspace_on_emulator`: a team's workspace on the emulator (the `emu` fixture of
  tests/conftest.py), added through the real workspace service;
- `sync.full_sync`: fill the mirror from Control Room with the real sync, in-process;
- `workers.Workers`: real Celery worker subprocesses; `workers.wait_until`: polling with a deadline;
- `browser`: the system Chromium for Playwright, and logging in through the form.
"""
