"""Payload checks before a payload is sent to Control Room: JSON parsing with line and
column, and the optional per-process JSON Schema (`ProcessSchema`, managed by admins).

Public API (also used by dashboard/processes when starting a run with payloads):
`validate_payload(workspace, process_external_id, payload) -> list[SchemaError]`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import re2
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError as JsonSchemaInvalid
from jsonschema.exceptions import ValidationError
from jsonschema.validators import extend, validator_for
from referencing import Registry
from referencing.exceptions import NoSuchResource, Unresolvable

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


# --- safe evaluation: no remote or file references, no backtracking regexes ---------------


def _refuse_retrieval(uri: str) -> Any:
    # Only references inside the schema itself (#/...) resolve: never a URL, never a file.
    raise NoSuchResource(ref=uri)  # type: ignore[call-arg]


LOCAL_ONLY = Registry(retrieve=_refuse_retrieval)  # type: ignore[call-arg]
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False


class UnsafePattern(ValueError):
    """A `pattern` the linear-time engine (RE2) cannot compile (backreferences, lookaround)."""


@functools.lru_cache(maxsize=512)
def safe_regex(pattern: str) -> Any:
    """Return `pattern` compiled by RE2, whose matching time is linear in the input.

    Python's `re` backtracks: an admin-set `^(a+)+$` takes time exponential in the payload.
    """
    try:
        return re2.compile(pattern, _RE2_OPTIONS)
    except re2.error:
        raise UnsafePattern(pattern) from None


def _pattern(
    validator: Any, pattern: str, instance: Any, schema: Any
) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not safe_regex(pattern).search(
        instance
    ):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(
    validator: Any, patterns: dict[str, Any], instance: Any, schema: Any
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for key, value in instance.items():
            if safe_regex(pattern).search(key):
                yield from validator.descend(
                    value, subschema, path=key, schema_path=pattern
                )


def _additional_properties(
    validator: Any, allowed: Any, instance: Any, schema: Any
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    properties = schema.get("properties", {})
    patterns = [safe_regex(p) for p in schema.get("patternProperties", {})]
    extras = sorted(
        (
            key
            for key in instance
            if key not in properties and not any(p.search(key) for p in patterns)
        ),
        key=str,
    )
    if validator.is_type(allowed, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], allowed, path=extra)
    elif not allowed and extras:
        listed = ", ".join(repr(each) for each in extras)
        yield ValidationError(f"Additional properties are not allowed ({listed})")


_SAFE_KEYWORDS = {
    "pattern": _pattern,
    "patternProperties": _pattern_properties,
    "additionalProperties": _additional_properties,
}


def _walk(
    node: Any, path: tuple[Any, ...] = ()
) -> Iterator[tuple[tuple[Any, ...], Any]]:
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, (*path, index))


def _unsafe_parts(schema: dict[str, Any]) -> list[str]:
    """Return why the schema cannot be evaluated safely: remote refs, RE2-unfit patterns."""
    problems: list[str] = []
    has_pattern_properties = False
    for path, node in _walk(schema):
        if not isinstance(node, dict):
            continue
        where = json_path(path)
        for keyword in ("$ref", "$dynamicRef"):
            ref = node.get(keyword)
            if isinstance(ref, str) and not ref.startswith("#"):
                problems.append(
                    f"{where}: {keyword} {ref!r} points outside this schema; only "
                    "references within it (#/...) are allowed."
                )
        patterns = [node["pattern"]] if isinstance(node.get("pattern"), str) else []
        if isinstance(node.get("patternProperties"), dict):
            has_pattern_properties = True
            patterns += list(node["patternProperties"])
        for pattern in patterns:
            try:
                safe_regex(pattern)
            except UnsafePattern:
                problems.append(
                    f"{where}: the pattern {pattern!r} uses a feature Workroom's regex engine "
                    "does not run (backreferences, lookahead or lookbehind)."
                )
    if has_pattern_properties and any(
        isinstance(node, dict) and "unevaluatedProperties" in node
        for _, node in _walk(schema)
    ):
        problems.append(
            "$: unevaluatedProperties cannot be combined with patternProperties here."
        )
    return problems[:MAX_ERRORS]


@functools.lru_cache(maxsize=8)
def _safe_validator_class(base: type[Any]) -> type[Any]:
    return extend(base, validators=_SAFE_KEYWORDS)


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
    except RecursionError:
        return ["$: the schema is nested too deeply."]
    return _unsafe_parts(schema)


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
    cls = _safe_validator_class(validator_for(schema, default=Draft202012Validator))
    try:
        found = sorted(
            cls(schema, registry=LOCAL_ONLY).iter_errors(payload),
            key=lambda e: (json_path(e.absolute_path), e.message),
        )
    except Unresolvable as err:
        return [
            SchemaError(
                "$",
                f"The process's schema has a reference that cannot be resolved "
                f"({str(getattr(err, 'ref', '') or err)[:200]}); ask an admin to fix the schema.",
            )
        ]
    except (UnsafePattern, RecursionError):
        return [
            SchemaError(
                "$", "The process's schema cannot be checked; ask an admin to fix it."
            )
        ]
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
