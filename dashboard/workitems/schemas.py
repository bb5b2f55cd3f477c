"""Payload checks before a payload is sent to Control Room: JSON parsing with line and
column, and the optional per-process JSON Schema (`ProcessSchema`, managed by admins).

Public API (also used by dashboard/processes when starting a run with payloads):
`validate_payload(workspace, process_external_id, payload) -> list[SchemaError]`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError as JsonSchemaInvalid
from jsonschema.validators import validator_for

from dashboard.workitems.models import ProcessSchema
from dashboard.workspaces.models import Workspace

MAX_ERRORS = 50


@dataclass(frozen=True)
class SchemaError:
    """One violation: `path` is a JSON path such as `$.customer.emails[2]`."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass(frozen=True)
class ParseError:
    """A payload that is not JSON; line and column are 1-based."""

    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"Line {self.line}, column {self.column}: {self.message}"


def json_path(parts: Iterable[Any]) -> str:
    """Return a JSON path (`$`, `$.a.b`, `$.items[0]`, `$["odd key"]`) for path parts."""
    path = "$"
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        elif str(part).isidentifier():
            path += f".{part}"
        else:
            path += f"[{json.dumps(str(part))}]"
    return path


def parse_payload(text: str) -> tuple[Any, ParseError | None]:
    """Parse payload text as JSON; return (value, None) or (None, ParseError)."""
    if not text.strip():
        return None, ParseError(1, 1, "The payload is empty; send null or {} instead.")
    try:
        return json.loads(text), None
    except json.JSONDecodeError as err:
        return None, ParseError(err.lineno, err.colno, err.msg)
    except RecursionError:
        return None, ParseError(1, 1, "The payload is nested too deeply.")


def check_schema(schema: Any) -> list[str]:
    """Return the problems of a JSON Schema document itself ([] when it is usable)."""
    if isinstance(schema, bool):
        return []
    if not isinstance(schema, dict):
        return ["A JSON Schema must be an object (or true / false)."]
    try:
        validator_for(schema, default=Draft202012Validator).check_schema(schema)
    except JsonSchemaInvalid as err:
        return [f"{json_path(err.absolute_path)}: {err.message}"]
    return []


def schema_for(workspace: Workspace, process_external_id: str) -> dict[str, Any] | None:
    """Return the schema registered for a process, or None when there is none."""
    row = ProcessSchema.objects.filter(
        workspace=workspace, process_external_id=process_external_id
    ).first()
    if row is None or not row.schema:
        return None
    return row.schema if isinstance(row.schema, dict) else None


def errors_against(schema: dict[str, Any], payload: Any) -> list[SchemaError]:
    """Return the violations of `payload` against `schema`, sorted by path."""
    if check_schema(schema):
        # A broken stored schema must not block every edit; the schema page reports it.
        return []
    cls = validator_for(schema, default=Draft202012Validator)
    found = sorted(
        cls(schema).iter_errors(payload),
        key=lambda e: (json_path(e.absolute_path), e.message),
    )
    return [SchemaError(json_path(e.absolute_path), e.message) for e in found][
        :MAX_ERRORS
    ]


def validate_payload(
    workspace: Workspace, process_external_id: str, payload: Any
) -> list[SchemaError]:
    """Return the payload's violations of the process's schema ([] if none or no schema)."""
    schema = schema_for(workspace, process_external_id)
    if schema is None:
        return []
    return errors_against(schema, payload)
