"""Who may do what on the process and run pages: viewer reads, operator acts, other team 404."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.dashboard.support.sync import full_sync

pytestmark = [pytest.mark.emulator, pytest.mark.django_db]


@pytest.fixture
def urls(emu, ws):
    proc = emu.store.add_process("Matrix", item_seconds=1.0, failure_rate=0.0)
    run = emu.store.create_run(proc.id, payloads=[{"k": 1}])
    emu.advance(3)
    full_sync(ws)
    step = emu.store.step_runs[run.step_runs[0]]
    return {
        "workspace": reverse("processes-workspace", args=[ws.pk]),
        "run": reverse("processes-run-detail", args=[ws.pk, run.id]),
        "step": reverse("processes-steprun-detail", args=[ws.pk, run.id, step.id]),
        "start": reverse("processes-start", args=[ws.pk, proc.id]),
        "stop": reverse("processes-run-stop", args=[ws.pk, run.id]),
    }


READ = ("workspace", "run", "step")
ACT = ("start", "stop")


@pytest.mark.parametrize(
    ("user", "read", "act"),
    [
        ("alice", 200, 200),
        ("bob", 200, 200),
        ("carol", 200, 403),
        ("charlie", 404, 404),
    ],
)
def test_the_permission_matrix(request, client_for, team_b, urls, user, read, act):
    client = client_for(request.getfixturevalue(user))
    for name in READ:
        assert client.get(urls[name]).status_code == read, name
    for name in ACT:
        assert client.get(urls[name]).status_code == act, name
    if act != 200:
        for name in ACT:
            assert (
                client.post(
                    urls[name], {"stage": "confirm", "variant": "none"}
                ).status_code
                == act
            ), name


def test_anonymous_users_are_sent_to_log_in(client, urls):
    for url in [
        *urls.values(),
        reverse("processes-overview"),
        reverse("processes-run-list"),
    ]:
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"], url
