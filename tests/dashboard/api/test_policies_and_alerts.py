"""The JSON API reads the team's retry policies and alerts; another team's are 404."""

from __future__ import annotations

import pytest

from dashboard.accounts.models import Role
from dashboard.alerts import services as alerts
from dashboard.alerts.models import Condition, Rule
from dashboard.audit.services import Actor
from dashboard.policies import services as policies
from dashboard.policies.models import RetryPolicy

pytestmark = pytest.mark.django_db


def _policy(team, admin, name: str) -> RetryPolicy:
    policy = RetryPolicy(
        name=name,
        exception_codes=["HTTP_ERROR"],
        backoff_minutes=[5, 30],
        max_attempts=3,
    )
    policies.save_policy(Actor.of(admin), team, policy, [])
    return policy


def test_a_viewer_token_reads_policies_and_open_alerts_of_its_team_only(
    team_a, team_b, alice, charlie, make_token, api_client
):
    mine = _policy(team_a, alice, "Retry ERP outages")
    theirs = _policy(team_b, charlie, "Other team's")
    Rule.objects.create(
        team=team_a,
        name="Breakers",
        condition=Condition.EVENT,
        event_kind="policy_breaker_opened",
    )
    alerts.emit(
        team_a, "policy_breaker_opened", "policy:1", "Paused", "why", "/policies/1/"
    )
    client = api_client(make_token(team_a, alice, Role.VIEWER))

    listed = client.get("/api/policies").json()
    assert [p["name"] for p in listed] == ["Retry ERP outages"]
    assert listed[0]["backoff_minutes"] == [5, 30] and listed[0]["state"] == "disabled"
    detail = client.get(f"/api/policies/{mine.pk}").json()
    assert detail["id"] == mine.pk and isinstance(detail["events"], list)
    missing = client.get(f"/api/policies/{theirs.pk}")
    assert missing.status_code == 404
    assert missing["Content-Type"].startswith("application/problem+json")

    [alert] = client.get("/api/alerts").json()
    assert alert["title"] == "Paused" and alert["rule"] == "Breakers"
    assert alert["link"].endswith("/policies/1/")
    assert client.get("/api/alerts?state=recovered").json() == []
    bad = client.get("/api/alerts?state=whatever")
    assert bad.status_code == 422


def test_an_operator_token_assigns_and_reviews_an_item_a_viewer_token_cannot(
    team_a, alice, bob, make_token, api_client
):
    from tests.dashboard.factories import make_workspace_row
    from tests.dashboard.workitems.conftest import make_items, make_process

    ws = make_workspace_row(team_a, name="Mine")
    [item] = make_items(make_process(ws), 1, state="failed", exception_code="E")
    operator = api_client(make_token(team_a, alice))
    answer = operator.post(
        f"/api/items/{item.pk}/owner", {"owner": "bob"}, content_type="application/json"
    )
    assert answer.status_code == 200, answer.content
    assert answer.json() == {
        "item_id": item.pk,
        "owner": "bob",
        "review_status": "none",
        "changed": True,
    }
    review = operator.post(
        f"/api/items/{item.pk}/review",
        {"status": "verified"},
        content_type="application/json",
    ).json()
    assert review["review_status"] == "verified"
    nobody = operator.post(
        f"/api/items/{item.pk}/owner",
        {"owner": "nobody"},
        content_type="application/json",
    )
    assert nobody.status_code == 422
    viewer = api_client(make_token(team_a, alice, Role.VIEWER, name="reader"))
    refused = viewer.post(
        f"/api/items/{item.pk}/owner", {"owner": None}, content_type="application/json"
    )
    assert refused.status_code == 403
