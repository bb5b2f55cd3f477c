"""Tokens (hashed, scoped, revocable, expiring) and the API's conventions: problem+json,
Idempotency-Key, per-token rate limit, ETags, keyset `next` links."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from dashboard.accounts.models import Membership, Role
from dashboard.api import tokens
from dashboard.api.models import ApiToken, IdempotentAnswer
from dashboard.audit.models import AuditEvent
from dashboard.audit.services import Actor
from dashboard.lib.redact import redact
from dashboard.mirror.models import WorkItem
from tests.dashboard.bulk.helpers import seed_failed
from tests.dashboard.support.sync import full_sync

pytestmark = [pytest.mark.emulator]


def test_the_value_is_shown_once_and_stored_hashed(team_a, alice, make_token):
    value = make_token(team_a, alice, name="ci")
    token = ApiToken.objects.get(name="ci")
    assert value.startswith(f"wr_{token.prefix}_")
    assert token.secret_hash == hashlib.sha256(value.encode()).hexdigest()
    assert value not in json.dumps(list(ApiToken.objects.values()), default=str)
    assert AuditEvent.objects.filter(action="api.token.create", team=team_a).exists()


def test_no_token_a_wrong_one_and_a_revoked_one_are_401_problems(
    team_a, alice, make_token, api_client, client
):
    value = make_token(team_a, alice)
    assert api_client(value).get("/api/teams").status_code == 200
    for answer in (
        client.get("/api/teams"),
        api_client(value[:-2] + "xx").get("/api/teams"),
        api_client("not-a-token").get("/api/teams"),
    ):
        assert answer.status_code == 401
        assert answer["Content-Type"] == "application/problem+json"
        assert answer.json()["status"] == 401
    tokens.revoke(ApiToken.objects.get(), Actor.of(alice))
    answer = api_client(value).get("/api/teams")
    assert answer.status_code == 401
    assert "revoked" in answer.json()["detail"]


def test_an_expired_token_is_refused(team_a, alice, make_token, api_client):
    value = make_token(team_a, alice, expires_at=timezone.now() + timedelta(hours=1))
    ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    answer = api_client(value).get("/api/teams")
    assert answer.status_code == 401 and "expired" in answer.json()["detail"]


def test_token_roles_are_capped(team_a, bob, carol):
    with pytest.raises(tokens.TokenError, match="higher role"):
        tokens.create_token(
            team_a,
            carol,
            Actor.of(carol),
            name="x",
            kind="personal",
            role=Role.OPERATOR,
        )
    with pytest.raises(tokens.TokenError, match="admins"):
        tokens.create_token(
            team_a, bob, Actor.of(bob), name="x", kind="service", role=Role.VIEWER
        )
    with pytest.raises(tokens.TokenError, match="viewer or an operator"):
        tokens.create_token(
            team_a, bob, Actor.of(bob), name="x", kind="personal", role=Role.ADMIN
        )


def test_a_personal_token_dies_with_its_owners_role(
    team_a, bob, make_token, api_client
):
    value = make_token(team_a, bob, kind="personal", name="bob-laptop")
    assert api_client(value).get("/api/teams").status_code == 200
    Membership.objects.filter(team=team_a, user=bob).update(role=Role.VIEWER)
    # update() sends no signal: the check at use still refuses.
    assert api_client(value).get("/api/teams").status_code == 401
    membership = Membership.objects.get(team=team_a, user=bob)
    membership.save()  # the signal revokes it for good
    assert ApiToken.objects.get(name="bob-laptop").status == "revoked"


def test_last_use_is_recorded_at_most_once_a_minute(
    team_a, alice, make_token, api_client
):
    value = make_token(team_a, alice)
    api_client(value).get("/api/teams")
    first = ApiToken.objects.get().last_used_at
    assert first is not None
    api_client(value).get("/api/teams")
    assert ApiToken.objects.get().last_used_at == first


def test_etag_and_304(team_a, alice, make_token, api_client):
    client = api_client(make_token(team_a, alice))
    answer = client.get("/api/teams")
    etag = answer["ETag"]
    again = client.get("/api/teams", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again["ETag"] == etag
    assert (
        client.get("/api/teams", headers={"If-None-Match": '"other"'}).status_code
        == 200
    )


def test_rate_limit_answers_429_with_retry_after(
    team_a, alice, make_token, api_client, settings
):
    settings.WORKROOM_API_RATE_LIMIT = 3
    cache.clear()
    client = api_client(make_token(team_a, alice))
    codes = [client.get("/api/teams").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    answer = client.get("/api/teams")
    assert answer["Content-Type"] == "application/problem+json"
    assert 1 <= int(answer["Retry-After"]) <= 60
    # Another token has its own budget.
    other = api_client(make_token(team_a, alice, name="other"))
    assert other.get("/api/teams").status_code == 200


def test_idempotency_key_replays_and_refuses_another_body(
    ws, emu, team_a, alice, make_token, api_client
):
    seed_failed(emu, 3)
    full_sync(ws)
    client = api_client(make_token(team_a, alice))
    body = {"action": "retry", "filter": "state=failed"}
    headers = {"Idempotency-Key": "preview-1"}
    first = client.post(
        "/api/bulk", body, content_type="application/json", headers=headers
    )
    assert first.status_code == 201, first.content
    again = client.post(
        "/api/bulk", body, content_type="application/json", headers=headers
    )
    assert again.status_code == 201 and again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    other = client.post(
        "/api/bulk",
        {**body, "action": "mark_as_done"},
        content_type="application/json",
        headers=headers,
    )
    assert other.status_code == 409
    assert other["Content-Type"] == "application/problem+json"
    fresh = client.post(
        "/api/bulk",
        body,
        content_type="application/json",
        headers={"Idempotency-Key": "2"},
    )
    assert fresh.json()["id"] != first.json()["id"]


def test_items_pages_follow_next_links(ws, emu, team_a, alice, make_token, api_client):
    seed_failed(emu, 30)
    full_sync(ws)
    client = api_client(make_token(team_a, alice, role=Role.VIEWER))
    seen: list[int] = []
    url: str | None = "/api/items?state=failed&page_size=25&sort=-updated"
    pages = 0
    while url:
        answer = client.get(url)
        assert answer.status_code == 200, answer.content
        page = answer.json()
        assert page["counts"]["failed"] == 30
        seen += [i["id"] for i in page["items"]]
        url = page["next"]
        pages += 1
        assert url is None or url.startswith("http://testserver/api/items?")
    assert pages == 2
    assert len(seen) == len(set(seen)) == 30
    assert set(seen) == set(
        WorkItem.objects.filter(state="failed").values_list("pk", flat=True)
    )


def test_an_invalid_filter_is_a_422_problem_naming_the_field(
    ws, team_a, alice, make_token, api_client
):
    client = api_client(make_token(team_a, alice))
    answer = client.get("/api/items?created_from=yesterday")
    assert answer.status_code == 422
    assert answer["Content-Type"] == "application/problem+json"
    problem = answer.json()
    assert problem["errors"][0]["field"] == "created_from"
    assert "created_from" in problem["detail"]
    # Another team's workspace is not found, as everywhere.
    assert client.get("/api/items?workspace=999999").status_code == 404


def test_removing_the_tokens_membership_disables_it(
    team_a, alice, make_token, api_client
):
    value = make_token(team_a, alice)
    Membership.objects.filter(user__api_token__isnull=False).delete()
    answer = api_client(value).get("/api/teams")
    assert answer.status_code == 401
    assert "no longer a member" in answer.json()["detail"]


def test_stored_answers_expire(
    ws, emu, team_a, alice, make_token, api_client, settings
):
    seed_failed(emu, 2)
    full_sync(ws)
    client = api_client(make_token(team_a, alice))
    headers = {"Idempotency-Key": "k"}
    body = {"action": "retry", "filter": "state=failed"}
    client.post("/api/bulk", body, content_type="application/json", headers=headers)
    IdempotentAnswer.objects.update(
        created_at=timezone.now()
        - timedelta(hours=settings.WORKROOM_API_IDEMPOTENCY_HOURS, seconds=1)
    )
    other = client.post(
        "/api/bulk",
        {**body, "action": "mark_as_done"},
        content_type="application/json",
        headers=headers,
    )
    assert other.status_code == 201 and other.json()["action"] == "mark_as_done"


def test_a_token_value_is_masked_in_logs(team_a, alice, make_token):
    value = make_token(team_a, alice)
    masked = redact(f"GET /api/teams?x={value} failed")
    assert value not in masked
    assert masked.startswith(f"GET /api/teams?x={value[:12]}[REDACTED]")


def test_a_key_still_being_answered_is_409_until_abandoned(
    ws, emu, team_a, alice, make_token, api_client
):
    seed_failed(emu, 2)
    full_sync(ws)
    value = make_token(team_a, alice)
    token = ApiToken.objects.get()
    client = api_client(value)
    body = {"action": "retry", "filter": "state=failed"}
    IdempotentAnswer.objects.create(
        token=token,
        key="k",
        request_hash=_fingerprint("/api/bulk", body),
    )
    headers = {"Idempotency-Key": "k"}
    busy = client.post(
        "/api/bulk", body, content_type="application/json", headers=headers
    )
    assert busy.status_code == 409 and "still being answered" in busy.json()["detail"]
    IdempotentAnswer.objects.update(created_at=timezone.now() - timedelta(minutes=11))
    done = client.post(
        "/api/bulk", body, content_type="application/json", headers=headers
    )
    assert done.status_code == 201


def _fingerprint(path: str, body: dict[str, str]) -> str:
    digest = hashlib.sha256(f"POST {path}\n".encode())
    digest.update(json.dumps(body).encode())
    return digest.hexdigest()


def test_the_rate_limit_lets_calls_through_when_redis_is_down(
    team_a, alice, make_token, api_client, settings, closed_port
):
    settings.WORKROOM_API_RATE_LIMIT = 1
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{closed_port}/0",
        }
    }
    client = api_client(make_token(team_a, alice))
    assert [client.get("/api/teams").status_code for _ in range(3)] == [200] * 3


def test_unknown_endpoints_and_methods_are_problems_too(
    team_a, alice, make_token, api_client
):
    client = api_client(make_token(team_a, alice))
    missing = client.get("/api/nothing-here")
    assert missing.status_code == 404
    assert missing["Content-Type"] == "application/problem+json"
    wrong = client.delete("/api/teams")
    assert wrong.status_code == 405
    assert wrong["Content-Type"] == "application/problem+json"
