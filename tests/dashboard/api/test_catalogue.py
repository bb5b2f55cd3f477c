"""The action catalogue: every action called with input generated from its own description
(pick lists included) against the emulator, its answer checked against its declared output
schema; and the OpenAPI document validates."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from openapi_spec_validator import validate

from dashboard.accounts.models import Role
from tests.dashboard.bulk.helpers import seed_failed
from tests.dashboard.support.sync import full_sync

pytestmark = [pytest.mark.emulator]

SAMPLES: dict[str, Any] = {
    "filter": "state=failed",
    "reason": "catalogue check",
    "payload": {"invoice": 1},
    "message": "a",
    "payloads": [{"order": 1}],
}


def _choose(client: Any, field: dict[str, Any], workspace: int) -> Any:
    if field["location"] == "file":
        return None
    if field["pick_list"]:
        value: Any = field["pick_list"][0][1]
    elif field["pick_list_url"]:
        url = field["pick_list_url"].replace("{workspace}", str(workspace))
        choices = client.get(url).json()["choices"]
        assert choices, f"no choice for {field['name']} from {url}"
        value = choices[0]["value"]
    else:
        value = SAMPLES[field["name"]]
    if field["type"] == "integer":
        return int(value)
    if field["type"] == "array":
        return [value]
    return value


def _call(client: Any, action: dict[str, Any], workspace: int) -> Any:
    path, query, body, files = action["path"], [], {}, {}
    for field in action["input_fields"]:
        value = _choose(client, field, workspace)
        if field["location"] == "path":
            path = path.replace("{" + field["name"] + "}", str(value))
        elif field["location"] == "query":
            query += [
                (field["name"], v)
                for v in (value if isinstance(value, list) else [value])
            ]
        elif field["location"] == "file":
            files[field["name"]] = SimpleUploadedFile("note.txt", b"checked")
        else:
            body[field["name"]] = value
    if action["method"] == "GET":
        return client.get(path, query)
    if files:
        return client.post(path, files)
    return client.post(path, json.dumps(body), content_type="application/json")


def test_every_catalogue_action_answers_its_output_schema(
    ws, emu, team_a, alice, make_token, api_client
):
    seed_failed(emu, 12)
    full_sync(ws)
    client = api_client(make_token(team_a, alice, Role.OPERATOR))
    catalogue = client.get("/api/catalogue").json()
    assert catalogue["name"] == "workroom" and catalogue["triggers"] == []
    names = [a["name"] for a in catalogue["actions"]]
    assert len(names) == len(set(names)) >= 20
    for action in catalogue["actions"]:
        answer = _call(client, action, ws.pk)
        assert answer.status_code in (200, 201), (action["name"], answer.content)
        jsonschema.validate(answer.json(), action["output_schema"])


def test_catalogue_fields_have_the_workato_shape(team_a, alice, make_token, api_client):
    client = api_client(make_token(team_a, alice, Role.VIEWER))
    for action in client.get("/api/catalogue").json()["actions"]:
        assert {"name", "title", "description", "input_fields", "output_schema"} <= set(
            action
        )
        for field in action["input_fields"]:
            assert {"name", "label", "type", "control_type", "hint", "optional"} <= set(
                field
            )
            assert field["pick_list"] is None or all(
                len(p) == 2 for p in field["pick_list"]
            )


def test_dynamic_pick_lists_answer_for_a_workspace(
    ws, emu, team_a, alice, make_token, api_client
):
    seed_failed(emu, 3)
    full_sync(ws)
    client = api_client(make_token(team_a, alice, Role.VIEWER))
    processes = client.get(f"/api/picklists/processes?workspace={ws.pk}").json()
    assert [c["label"] for c in processes["choices"]] == ["Invoices"]
    codes = client.get(f"/api/picklists/codes?workspace={ws.pk}").json()["choices"]
    assert codes and all(c["value"] for c in codes)
    assert client.get("/api/picklists/nothing").status_code == 422


def test_the_openapi_document_validates(client):
    answer = client.get("/api/openapi.json")
    assert answer.status_code == 200
    document = answer.json()
    assert document["openapi"].startswith("3.1")
    validate(document)
    bulk = document["paths"]["/api/bulk"]["post"]
    assert any(p["name"] == "Idempotency-Key" for p in bulk["parameters"])
    assert "application/problem+json" in bulk["responses"]["422"]["content"]


def test_the_docs_page_lists_the_operations(client):
    answer = client.get("/api/docs")
    assert answer.status_code == 200
    assert b"/api/bulk/{op_id}/confirm" in answer.content
