"""Issue 11 deliverable 3: at WORKROOM_LOG_LEVEL=DEBUG, with DEBUG on (development) and off
(production), a full flow — log in, add a workspace, invite, accept, sync, act on an item,
receive a webhook — writes none of its secrets to the configured log output.

Canaries: the Control Room API key, both users' passwords, the one-time invitation token, the
session keys, the CSRF token and the webhook secret. The output is read from the project's own
logging configuration (its filters included), at DEBUG for every logger.
"""

from __future__ import annotations

import copy
import io
import json
import logging.config
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from dashboard.accounts.models import Role
from dashboard.mirror.models import WorkItem
from dashboard.mirror.services.sync import WorkspaceSync
from dashboard.mirror.services.webhooks import signature_for, webhooks_register
from dashboard.workspaces.models import Workspace
from dashboard.workspaces.services import build_client
from robocorp_api.emulator import EmulatorServer
from tests.dashboard.factories import make_team

pytestmark = [pytest.mark.django_db, pytest.mark.emulator]

API_KEY = "LOGCANARYkey-4d2c9e1f7a3b5c8d0e6f"
ADMIN_PASSWORD = "log-canary-admin-pw-5e8f1a"
NEW_USER_PASSWORD = "log-canary-new-user-pw-9c3b7d"


@pytest.fixture
def canary_emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(seed="empty", api_key=API_KEY, speed=50.0) as emu:
        emu.pause_robots()
        yield emu


@pytest.fixture
def debug_logs(settings: Any) -> Iterator[io.StringIO]:
    """The project's LOGGING at DEBUG for every logger, written to a buffer."""
    out = io.StringIO()
    config = copy.deepcopy(django_settings.LOGGING)
    config["handlers"]["console"]["stream"] = out
    config["root"]["level"] = "DEBUG"
    for name, logger in config["loggers"].items():
        if name in ("django", "celery"):
            logger["level"] = "DEBUG"
    logging.config.dictConfig(config)
    yield out
    logging.config.dictConfig(django_settings.LOGGING)


def _token_from(html: str) -> str:
    found = re.search(r"/invitations/([A-Za-z0-9_-]{20,})/", html)
    assert found, "the invitation link is not on the page"
    return found.group(1)


def _full_flow(emu: EmulatorServer) -> dict[str, str]:
    """Run the flow; return every secret it used, by name."""
    admin = get_user_model().objects.create_user("logadmin", password=ADMIN_PASSWORD)
    team = make_team("Log Team", admin=admin)
    process = emu.store.add_process("Leaky", item_seconds=1.0, failure_rate=1.0)
    emu.store.create_run(process.id, payloads=[{"n": 1}, {"n": 2}])
    emu.advance(600)

    browser = Client(enforce_csrf_checks=False)
    login = browser.post(
        reverse("login"), {"username": "logadmin", "password": ADMIN_PASSWORD}
    )
    assert login.status_code == 302
    add = browser.post(
        reverse("workspaces-add", args=[team.slug]),
        {
            "name": "Leaky WS",
            "base_url_choice": "custom",
            "custom_url": emu.api_base_url,
            "cr_workspace_id": emu.workspace_id,
            "api_key": API_KEY,
            "password": ADMIN_PASSWORD,
        },
    )
    assert add.status_code == 302, add.content.decode()[:500]
    workspace = Workspace.objects.get(name="Leaky WS")
    invite = browser.post(
        reverse("accounts-invitation-create", args=[team.slug]),
        {"role": str(Role.OPERATOR.value)},
    )
    token = _token_from(invite.content.decode())
    members = browser.get(reverse("accounts-team-members", args=[team.slug]))
    csrf_token = str(members.context["csrf_token"])

    newcomer = Client()
    accept_url = reverse("accounts-invitation-accept", args=[token])
    newcomer.get(accept_url)
    accepted = newcomer.post(
        accept_url,
        {
            "action": "register",
            "register-username": "lognewcomer",
            "register-password1": NEW_USER_PASSWORD,
            "register-password2": NEW_USER_PASSWORD,
        },
    )
    assert accepted.status_code == 302, accepted.content.decode()[:500]

    with build_client(workspace) as client:
        WorkspaceSync(workspace, client).run_full()
    failed = WorkItem.objects.filter(workspace=workspace, state="failed").first()
    assert failed is not None
    acted = newcomer.post(
        reverse("workitems-item-action", args=[failed.pk, "retry"]), {}
    )
    assert acted.status_code in (200, 302)

    [registration, *_] = webhooks_register(
        workspace, admin, endpoint="http://127.0.0.1:9/hooks/"
    )
    webhook_secret = emu.store.webhooks[registration.external_id].secret
    body = json.dumps(
        {
            "id": "evt-log-canary",
            "webhookEventTimestamp": timezone.now().isoformat(),
            "event": "process_run.completed",
            "payload": {"processRunId": "run-x"},
        }
    ).encode()
    hook = Client().post(
        reverse("mirror-webhook-receive", args=[workspace.uid]),
        body,
        content_type="application/json",
        headers={"x-rc-signature": signature_for(webhook_secret, body)},
    )
    assert hook.status_code == 202
    cookie = django_settings.SESSION_COOKIE_NAME
    return {
        "api key": API_KEY,
        "admin password": ADMIN_PASSWORD,
        "new user password": NEW_USER_PASSWORD,
        "invitation token": token,
        "admin session key": browser.cookies[cookie].value,
        "new user session key": newcomer.cookies[cookie].value,
        "csrf token": csrf_token,
        "webhook secret": webhook_secret,
    }


@pytest.mark.parametrize("debug", [True, False], ids=["dev", "production"])
def test_no_secret_reaches_the_debug_log(settings, canary_emulator, debug_logs, debug):
    settings.DEBUG = debug
    secrets = _full_flow(canary_emulator)
    logged = debug_logs.getvalue()
    assert logged.count("\n") > 30, "almost nothing was logged: the capture is broken"
    if debug:
        assert "django_session" in logged  # SQL is logged, so the check means something
    leaked = [name for name, value in secrets.items() if value in logged]
    lines = [
        line[:400]
        for line in logged.splitlines()
        if any(v in line for v in secrets.values())
    ]
    assert leaked == [], f"secrets in the log: {leaked} {lines[:5]}"
