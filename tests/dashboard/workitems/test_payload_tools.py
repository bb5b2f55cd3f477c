"""Payload parsing, JSON Schema checks (the API other apps import), the JSON tree, filenames."""

from __future__ import annotations

import pytest
from django.urls import reverse

from dashboard.audit.models import AuditEvent
from dashboard.workitems.models import ProcessSchema
from dashboard.workitems.schemas import (
    SchemaError,
    check_schema,
    json_path,
    parse_payload,
    validate_payload,
)
from dashboard.workitems.templatetags.workitems import json_tree
from dashboard.workitems.uploads import clean_filename
from tests.dashboard.workitems.conftest import make_process


def test_parse_errors_carry_line_and_column():
    value, error = parse_payload('{"a": 1,\n "b": tru}')
    assert value is None and error is not None
    assert (error.line, error.column) == (2, 7)
    assert str(error).startswith("Line 2, column 7:")
    assert parse_payload('{"a": [1, 2]}') == ({"a": [1, 2]}, None)
    assert parse_payload("   ")[1] is not None
    assert (
        parse_payload("[" * 100_000)[1] is not None
    )  # too deep: an error, not a crash


def test_json_paths():
    assert json_path([]) == "$"
    assert json_path(["customer", "emails", 2]) == "$.customer.emails[2]"
    assert json_path(["odd key"]) == '$["odd key"]'


def test_check_schema_reports_broken_schemas():
    assert check_schema({"type": "object"}) == []
    assert check_schema(True) == []
    assert check_schema([]) == ["A JSON Schema must be an object (or true / false)."]
    assert check_schema({"type": "nonsense"})[0].startswith("$.type:")


@pytest.mark.django_db
def test_validate_payload_lists_errors_per_path(ws_a):
    proc = make_process(ws_a)
    assert validate_payload(ws_a, proc.external_id, {"anything": 1}) == []
    ProcessSchema.objects.create(
        workspace=ws_a,
        process_external_id=proc.external_id,
        schema={
            "type": "object",
            "required": ["id"],
            "properties": {
                "id": {"type": "integer"},
                "lines": {"type": "array", "items": {"type": "number"}},
            },
        },
    )
    errors = validate_payload(ws_a, proc.external_id, {"lines": [1, "x", 3, "y"]})
    assert errors == [
        SchemaError("$", "'id' is a required property"),
        SchemaError("$.lines[1]", "'x' is not of type 'number'"),
        SchemaError("$.lines[3]", "'y' is not of type 'number'"),
    ]
    assert validate_payload(ws_a, proc.external_id, {"id": 4}) == []
    assert validate_payload(ws_a, "another-process", {"lines": "no"}) == []


def test_json_tree_escapes_and_nests():
    html = str(
        json_tree(
            {"<b>": ["</details><script>x</script>", None, True, 1.5, {"deep": {}}]}
        )
    )
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "&lt;b&gt;" in html
    assert html.count("<details") == 3 and html.startswith(
        '<details class="json-node" open>'
    )
    assert 'class="json-null">null' in html and 'class="json-bool">true' in html
    assert str(json_tree("plain")) == '<span class="json-str">&quot;plain&quot;</span>'


def test_clean_filename():
    assert clean_filename("../../etc/passwd") == "passwd"
    assert clean_filename("C:\\Users\\x\\report.pdf") == "report.pdf"
    assert clean_filename("a\x00b\nc.txt") == "abc.txt"
    assert clean_filename("...") == "upload.bin"
    assert clean_filename("x" * 300 + ".csv").endswith(".csv")
    assert len(clean_filename("x" * 300 + ".csv")) == 200
    assert clean_filename('we"ird;na<me>.txt') == "we_ird_na_me_.txt"


@pytest.mark.django_db
def test_only_admins_manage_schemas(client_for, alice, bob, charlie, ws_a):
    proc = make_process(ws_a, "Invoices")
    url = reverse("workitems-process-schema", args=[proc.pk])
    assert client_for(charlie).get(url).status_code == 404
    page = client_for(bob).get(url)
    assert (
        page.status_code == 200
        and "Only team admins can change it." in page.content.decode()
    )
    assert client_for(bob).post(url, {"schema": "{}"}).status_code == 403
    bad = client_for(alice).post(url, {"schema": '{"type": 5}'})
    assert bad.status_code == 200 and "$.type" in bad.content.decode()
    broken = client_for(alice).post(url, {"schema": '{"type": '})
    assert "Line 1, column" in broken.content.decode()
    ok = client_for(alice).post(
        url, {"schema": '{"type": "object", "required": ["id"]}'}
    )
    assert ok.status_code == 302
    row = ProcessSchema.objects.get(
        workspace=ws_a, process_external_id=proc.external_id
    )
    assert (
        row.schema == {"type": "object", "required": ["id"]} and row.updated_by == alice
    )
    assert AuditEvent.objects.filter(action="process_schema.update").count() == 1
    client_for(alice).post(url, {"schema": ""})
    assert not ProcessSchema.objects.exists()
