"""A workspace is added with a known canary key; no page, fragment, error, log line or
database column may ever contain it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from dashboard.accounts import services as account_services
from dashboard.accounts.models import Membership, Role
from dashboard.audit.models import AuditEvent
from dashboard.workspaces import services
from dashboard.workspaces.models import Workspace
from robocorp_api.errors import AuthenticationFailed
from tests.dashboard.factories import PASSWORD

pytestmark = [pytest.mark.django_db, pytest.mark.emulator]

CANARY = "CANARYkey-7f3e9b1c5a2d4e6f8a0b-wr"
HTMX = {"HX-Request": "true"}


class _RawCapture(logging.Handler):
    """Keeps each record's text as logged, before any redacting filter rewrites it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = f"{record.name} {record.getMessage()} {record.args!r}"
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        self.lines.append(text)


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> Iterator[_RawCapture]:
    """Capture every logger at DEBUG, raw, including loggers that do not propagate to the root.

    The capture goes first in each handler list: the project's redacting filter would
    otherwise mask a leaked key in place, and this test wants no attempt to log it at all.
    """
    caplog.set_level(logging.DEBUG)
    capture = _RawCapture()
    hooked = [logging.getLogger(name) for name in ("", "django", "celery")]
    for logger in hooked:
        logger.handlers.insert(0, capture)
    levels = {logger: logger.level for logger in hooked}
    for logger in hooked:
        logger.setLevel(logging.DEBUG)
    yield capture
    for logger in hooked:
        logger.removeHandler(capture)
        logger.setLevel(levels[logger])


def _scan(response: Any) -> str:
    text: str = response.content.decode(errors="replace") + repr(
        sorted(response.items())
    )
    assert CANARY not in text, f"canary in {response.request['PATH_INFO']}"
    assert CANARY[-12:] not in text  # not even a long suffix
    return text


def _get_every_page(client: Client, workspace: Workspace, token: str) -> None:
    team = workspace.team
    member = Membership.objects.filter(team=team).exclude(role=Role.ADMIN).first()
    assert member is not None
    gets = [
        (reverse("home"), {}),
        (reverse("accounts-team-create"), {}),
        (reverse("accounts-team-detail", args=[team.slug]), {}),
        (reverse("accounts-team-members", args=[team.slug]), {}),
        (reverse("accounts-invitation-accept", args=[token]), {}),
        (reverse("workspaces-list", args=[team.slug]), {}),
        (reverse("workspaces-add", args=[team.slug]), {}),
        (reverse("workspaces-detail", args=[workspace.pk]), {}),
        (reverse("workspaces-replace-key", args=[workspace.pk]), {}),
        (reverse("workspaces-delete", args=[workspace.pk]), {}),
        (reverse("audit-event-list", args=[team.slug]), {}),
        (reverse("audit-event-list", args=[team.slug]), HTMX),
        (
            reverse("audit-event-list", args=[team.slug]) + "?action=workspace.created",
            HTMX,
        ),
        (reverse("workspaces-detail", args=[999999]), {}),
        (reverse("accounts-team-detail", args=["no-such-team"]), {}),
    ]
    for url, extra in gets:
        _scan(client.get(url, headers=extra))
    posts = [
        (reverse("accounts-invitation-create", args=[team.slug]), {"role": "10"}, HTMX),
        (
            reverse("accounts-member-role", args=[team.slug, member.pk]),
            {"role": "20"},
            HTMX,
        ),
        (reverse("workspaces-reprobe", args=[workspace.pk]), {}, {}),
    ]
    for url, data, extra in posts:
        _scan(client.post(url, data, follow=True, headers=extra))


def test_the_canary_key_never_leaks(
    client_for, team_a, alice, carol, emulator_factory, all_logs
):
    emu = emulator_factory(seed="demo", api_key=CANARY)
    admin = client_for(alice)
    add_url = reverse("workspaces-add", args=[team_a.slug])
    form = {
        "name": "Canary",
        "base_url_choice": "custom",
        "custom_url": emu.api_base_url,
        "cr_workspace_id": emu.workspace_id,
        "api_key": CANARY,
        "password": PASSWORD,
    }
    # Bad forms first: wrong password, foreign URL, wrong workspace id; each must not echo the key.
    _scan(admin.post(add_url, form | {"password": "wrong"}))
    _scan(admin.post(add_url, form | {"custom_url": "https://evil.example.com/api/v1"}))
    _scan(admin.post(add_url, form | {"cr_workspace_id": "nope"}))
    _scan(admin.post(add_url, form, follow=True))
    workspace = Workspace.objects.get(name="Canary")
    assert workspace.api_key_hint == CANARY[-4:]
    _, token = account_services.create_invitation(team_a, alice, Role.VIEWER)

    _get_every_page(admin, workspace, token)
    for response in (
        client_for(carol).get(reverse("workspaces-detail", args=[workspace.pk])),
        client_for(carol).get(reverse("workspaces-list", args=[team_a.slug])),
        client_for(carol).get(
            reverse("workspaces-replace-key", args=[workspace.pk])
        ),  # 403
        client_for(None).get(
            reverse("workspaces-detail", args=[workspace.pk])
        ),  # login redirect
    ):
        _scan(response)

    # A revoked key: the re-check answers 401 and the page shows the error.
    # (The emulator is this test's own, so revoking its key disturbs no other test.)
    emu.store.keys.pop(CANARY)
    text = _scan(
        admin.post(reverse("workspaces-reprobe", args=[workspace.pk]), follow=True)
    )
    assert "401" in text
    replace_url = reverse("workspaces-replace-key", args=[workspace.pk])
    _scan(admin.post(replace_url, {"api_key": CANARY, "password": PASSWORD}))
    client = services.build_client(workspace)
    assert CANARY not in repr(client)
    with pytest.raises(AuthenticationFailed) as exc:
        client.workspace.get()
    assert CANARY not in str(exc.value) + repr(exc.value) + repr(exc.value.args)

    logs = "\n".join(all_logs.lines)
    assert len(all_logs.lines) > 20, "almost nothing was logged: the capture is broken"
    assert CANARY not in logs

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT api_key_ciphertext, api_key_hint FROM workspaces_workspace"
        )
        stored = " ".join(" ".join(row) for row in cursor.fetchall())
    assert CANARY not in stored and "v1:fernet:" in stored
    events = " ".join(
        f"{e.summary} {e.data} {e.object_repr}" for e in AuditEvent.objects.all()
    )
    assert CANARY not in events and CANARY[-4:] in events  # the hint is fine
