"""The permission matrix of the API for tokens: a viewer token reads but never acts; a token
of another team gets 404 for every id of this team; revoked and expired tokens get 401."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from dashboard.accounts.models import Role
from dashboard.api import tokens
from dashboard.api.models import ApiToken
from dashboard.audit.models import AuditEvent
from dashboard.audit.services import Actor
from dashboard.bulk import drafts
from dashboard.mirror.models import Process, ProcessRun, StepRun, WorkItem
from tests.dashboard.bulk.helpers import seed_failed
from tests.dashboard.support.sync import full_sync

pytestmark = [pytest.mark.emulator]

READS = [
    "/api/workspaces/{ws}",
    "/api/processes/{process}",
    "/api/runs/{run}",
    "/api/runs/{run}/steps",
    "/api/items/{item}",
    "/api/bulk/{op}",
    "/api/bulk/{op}/results",
]
ACTS = [
    ("/api/items/{item}/retry", {}),
    ("/api/items/{item}/mark-done", {}),
    ("/api/items/{item}/delete", {}),
    ("/api/items/{item}/payload", {"payload": {"a": 1}}),
    ("/api/bulk/{op}/cancel", {}),
    ("/api/bulk/{op}/confirm", {"reason": "x"}),
]


@pytest.fixture
def world(ws, emu, team_a, team_b, alice, bob, charlie, make_token, api_client) -> Any:
    seed_failed(emu, 4)
    full_sync(ws)
    op = drafts.create_draft(bob, action="retry", filter_query="state=failed")
    drafts.confirm(op, bob, reason="matrix")
    ids = {
        "ws": ws.pk,
        "process": Process.objects.get(workspace=ws).pk,
        "run": ProcessRun.objects.filter(workspace=ws).earliest("pk").pk,
        "step": StepRun.objects.filter(workspace=ws).earliest("pk").pk,
        "item": WorkItem.objects.filter(workspace=ws).earliest("pk").pk,
        "op": op.pk,
    }
    clients = {
        "viewer": api_client(make_token(team_a, alice, Role.VIEWER, name="v")),
        "operator": api_client(make_token(team_a, alice, Role.OPERATOR, name="o")),
        "other_team": api_client(make_token(team_b, charlie, Role.OPERATOR, name="b")),
    }
    return ids, clients


@pytest.mark.parametrize("path", READS)
def test_reads(world, path):
    ids, clients = world
    url = path.format(**ids)
    assert clients["viewer"].get(url).status_code == 200
    assert clients["operator"].get(url).status_code == 200
    other = clients["other_team"].get(url)
    assert other.status_code == 404, url
    assert other["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize(("path", "body"), ACTS)
def test_acts(world, path, body):
    ids, clients = world
    url = path.format(**ids)
    viewer = clients["viewer"].post(url, body, content_type="application/json")
    assert viewer.status_code == 403, url
    assert "viewer token" in viewer.json()["detail"]
    assert (
        clients["other_team"]
        .post(url, body, content_type="application/json")
        .status_code
        == 404
    )


def test_an_operator_token_acts_and_is_audited_under_its_name(world, team_a):
    ids, clients = world
    answer = clients["operator"].post(
        f"/api/items/{ids['item']}/payload",
        {"payload": {"fixed": True}},
        content_type="application/json",
    )
    assert answer.status_code == 200, answer.content
    assert answer.json()["item"]["payload"] == {"fixed": True}
    event = AuditEvent.objects.get(action="work_item.edit_payload")
    assert event.actor_label.startswith("token o (wr_")


def test_lists_hold_only_the_tokens_team(world, workspace_b):
    _ids, clients = world
    mine = clients["operator"].get("/api/workspaces").json()
    theirs = clients["other_team"].get("/api/workspaces").json()
    assert [w["name"] for w in mine] == ["Production A"]
    assert [w["name"] for w in theirs] == ["Production B"]
    assert "api_key" not in str(mine) and "ciphertext" not in str(mine)
    assert clients["other_team"].get("/api/items").json()["items"] == []


@pytest.mark.parametrize("how", ["revoked", "expired"])
def test_revoked_and_expired_tokens_are_401(world, how):
    _ids, clients = world
    token = ApiToken.objects.get(name="o")
    if how == "revoked":
        tokens.revoke(token, Actor(label="test"))
    else:
        ApiToken.objects.filter(pk=token.pk).update(
            expires_at=timezone.now() - timedelta(minutes=1)
        )
    assert clients["operator"].get("/api/teams").status_code == 401
