"""Issue 11 M1 and (h): a process payload schema never fetches a URL or reads a file for a
`$ref`, an unresolvable reference is a clear message, and `pattern`s run in linear time."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from dashboard.workitems.schemas import check_schema, errors_against

SECRET_TEXT = "contents-of-a-local-file-7c1d"


@pytest.fixture
def local_json_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret.json"
    path.write_text(json.dumps({"const": SECRET_TEXT}))
    return path


@pytest.fixture
def http_server() -> Any:
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            body = json.dumps({"const": SECRET_TEXT}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.hits = hits  # type: ignore[attr-defined]
    yield server
    server.shutdown()


def _everything(errors: list[Any]) -> str:
    return " ".join(f"{e.path} {e.message}" for e in errors)


def test_a_file_ref_is_refused_and_never_read(local_json_file):
    schemas = [
        {"$ref": local_json_file.as_uri()},
        {"$id": local_json_file.parent.as_uri() + "/", "$ref": "secret.json"},
        {"properties": {"a": {"$ref": local_json_file.as_uri()}}},
    ]
    for schema in schemas:
        problems = check_schema(schema)
        assert problems and "only references within it" in problems[0]
        payload = {"a": 1}
        assert SECRET_TEXT not in _everything(errors_against(schema, payload))


def test_a_remote_ref_is_refused_and_never_fetched(http_server):
    url = f"http://127.0.0.1:{http_server.server_port}/schema.json"
    schema = {"properties": {"a": {"$ref": url}}}
    assert "points outside this schema" in check_schema(schema)[0]
    errors_against(schema, {"a": "x"})
    assert http_server.hits == []


def test_resolution_never_retrieves_even_past_the_schema_check(
    http_server, local_json_file, monkeypatch
):
    # Defence in depth: the validator's registry itself refuses to fetch.
    from dashboard.workitems import schemas

    monkeypatch.setattr(schemas, "check_schema", lambda schema: [])
    url = f"http://127.0.0.1:{http_server.server_port}/schema.json"
    for ref in (url, local_json_file.as_uri()):
        errors = errors_against({"properties": {"a": {"$ref": ref}}}, {"a": "x"})
        assert len(errors) == 1 and "cannot be resolved" in errors[0].message
        assert SECRET_TEXT not in _everything(errors)
    assert http_server.hits == []


def test_an_unresolvable_local_ref_is_a_clear_message_not_a_crash():
    schema = {"properties": {"a": {"$ref": "#/$defs/missing"}}}
    errors = errors_against(schema, {"a": 1})
    assert len(errors) == 1 and "cannot be resolved" in errors[0].message
    ok = {
        "$defs": {"n": {"type": "integer"}},
        "properties": {"a": {"$ref": "#/$defs/n"}},
    }
    assert check_schema(ok) == []
    assert (
        _everything(errors_against(ok, {"a": "x"}))
        == "$.a 'x' is not of type 'integer'"
    )


@pytest.mark.parametrize(
    ("schema", "payload"),
    [
        ({"type": "string", "pattern": "^(a+)+$"}, "a" * 5000 + "!"),
        (
            {
                "type": "object",
                "patternProperties": {"^(a|aa)+$": {}},
                "additionalProperties": {"type": "integer"},
            },
            {"a" * 5000 + "!": "s"},
        ),
        (
            {
                "type": "object",
                "patternProperties": {"^(a+)+$": {}},
                "additionalProperties": False,
            },
            {"a" * 5000 + "!": 1},
        ),
        ({"propertyNames": {"pattern": "^(a*)*$"}}, {"a" * 5000 + "!": 1}),
    ],
)
def test_catastrophic_patterns_run_in_linear_time(schema, payload):
    assert check_schema(schema) == []
    started = time.monotonic()
    errors = errors_against(schema, payload)
    assert time.monotonic() - started < 1.0
    assert errors


def test_patterns_still_match_as_before():
    schema = {
        "type": "object",
        "properties": {"code": {"type": "string", "pattern": "^[A-Z]{3}-\\d+$"}},
        "patternProperties": {"^x-": {"type": "integer"}},
        "additionalProperties": False,
    }
    assert errors_against(schema, {"code": "ABC-12", "x-n": 1}) == []
    found = _everything(errors_against(schema, {"code": "abc", "x-n": "s", "zz": 1}))
    assert "'abc' does not match" in found
    assert "$[\"x-n\"] 's' is not of type 'integer'" in found
    assert "Additional properties are not allowed ('zz')" in found


@pytest.mark.parametrize("pattern", ["(a)\\1", "^(?=a)b", "(?<!x)y"])
def test_patterns_the_safe_engine_cannot_run_are_refused_at_save_time(pattern):
    problems = check_schema({"properties": {"a": {"pattern": pattern}}})
    assert (
        problems and "regex engine" in problems[0] and "$.properties.a" in problems[0]
    )
    problems = check_schema({"patternProperties": {pattern: {}}})
    assert problems and "regex engine" in problems[0]
