"""Turning what an operator typed or uploaded into the input of a process run.

Start variants (API.md §3.3): no input, one JSON payload, many payloads (a JSON array or a
CSV file, one payload per row), selected existing work items, or the queued inputs. Parse
errors carry a line and column; every payload is also checked against the process's JSON
Schema when one is set (dashboard.workitems.schemas).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from typing import Any

from dashboard.workitems.schemas import parse_payload, validate_payload
from dashboard.workspaces.models import Workspace

VARIANTS = {
    "none": "No input (Control Room creates one empty work item)",
    "payload": "One JSON payload",
    "payloads": "Many payloads (a JSON array: one work item per element)",
    "csv": "Many payloads from a CSV file (one work item per row)",
    "work_items": "Selected existing input work items",
    "inputs": "The work items waiting in the process's input queue",
}
PAYLOAD_VARIANTS = ("payload", "payloads", "csv")
MAX_PAYLOADS = 2000
# The confirmation step carries the payloads in a form field, and Django refuses request
# bodies over DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB by default): stay well below it.
MAX_PAYLOADS_BYTES = 1_000_000
MAX_CSV_BYTES = 2_000_000
MAX_SCHEMA_ERRORS = 20
PREVIEW_ROWS = 10


@dataclass
class StartInput:
    """A validated start request, or the errors that prevent it."""

    variant: str
    payloads: list[Any] | None = None
    work_item_ids: list[str] | None = None
    csv_headers: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def count(self) -> int:
        if self.payloads is not None:
            return len(self.payloads)
        if self.work_item_ids is not None:
            return len(self.work_item_ids)
        return 0

    @property
    def payloads_json(self) -> str:
        return json.dumps(self.payloads, ensure_ascii=False, separators=(",", ":"))

    def preview(self) -> list[str]:
        """Return the first payloads, pretty-printed."""
        return [
            json.dumps(p, indent=2, ensure_ascii=False)
            for p in (self.payloads or [])[:PREVIEW_ROWS]
        ]

    def csv_preview(self) -> list[list[str]]:
        """Return the first CSV rows as cells in header order."""
        rows = []
        for payload in (self.payloads or [])[:PREVIEW_ROWS]:
            rows.append([str(payload.get(h, "")) for h in self.csv_headers])
        return rows


def parse_json_array(text: str) -> tuple[list[Any] | None, str | None]:
    """Parse the many-payloads text: a non-empty JSON array. Return (payloads, error)."""
    value, error = parse_payload(text)
    if error is not None:
        return None, f"The payloads are not valid JSON. {error}"
    if not isinstance(value, list):
        return None, (
            'Many payloads must be a JSON array, e.g. [{"order": 1}, {"order": 2}]: '
            f"this is a JSON {type(value).__name__}. To send one payload, choose "
            "“One JSON payload”."
        )
    if not value:
        return None, "The array is empty: give at least one payload."
    return value, None


def _sniff(text: str) -> type[csv.Dialect] | csv.Dialect:
    try:
        return csv.Sniffer().sniff(text[:8192], delimiters=",;\t|")
    except csv.Error:
        return csv.excel


def parse_csv(data: bytes) -> tuple[list[dict[str, str]], list[str], str | None]:
    """Parse a CSV file with a header row: each further row becomes `{header: cell}`.

    Return (payloads, headers, error). Cells stay strings: a CSV has no types, and
    guessing (is "007" a number?) would change what the robot receives.
    """
    if len(data) > MAX_CSV_BYTES:
        return [], [], f"The CSV file is larger than {MAX_CSV_BYTES // 1_000_000} MB."
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        return [], [], f"The CSV file is not UTF-8 text (byte {err.start + 1})."
    if not text.strip():
        return [], [], "The CSV file is empty."
    reader = csv.reader(io.StringIO(text, newline=""), _sniff(text))
    try:
        headers = [h.strip() for h in next(reader)]
    except csv.Error as err:
        return [], [], f"Line 1 of the CSV file cannot be read: {err}."
    problem = _header_problem(headers)
    if problem:
        return [], [], problem
    payloads: list[dict[str, str]] = []
    try:
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if len(row) > len(headers):
                return (
                    [],
                    [],
                    (
                        f"Line {reader.line_num} of the CSV file has {len(row)} cells but the "
                        f"header has {len(headers)} columns."
                    ),
                )
            payloads.append(
                dict(zip(headers, [*row, *[""] * len(headers)], strict=False))
            )
            if len(payloads) > MAX_PAYLOADS:
                return [], [], f"The CSV file has more than {MAX_PAYLOADS} rows."
    except csv.Error as err:
        return [], [], f"Line {reader.line_num} of the CSV file cannot be read: {err}."
    if not payloads:
        return [], [], "The CSV file has a header row but no data rows."
    return payloads, headers, None


def _header_problem(headers: list[str]) -> str | None:
    if not any(headers):
        return "The first line of the CSV file must name the columns."
    if any(not h for h in headers):
        return "Every column of the CSV header row needs a name (one is empty)."
    duplicated = sorted({h for h in headers if headers.count(h) > 1})
    if duplicated:
        return f"The CSV header names a column twice: {', '.join(duplicated)}."
    return None


def check_payloads(
    workspace: Workspace, process_external_id: str, payloads: list[Any]
) -> list[str]:
    """Return size problems and schema violations of the payloads ([] when all is well)."""
    if len(payloads) > MAX_PAYLOADS:
        return [
            f"{len(payloads)} payloads is more than the {MAX_PAYLOADS} Workroom starts in "
            "one run; split them into several runs."
        ]
    size = len(json.dumps(payloads, ensure_ascii=False).encode())
    if size > MAX_PAYLOADS_BYTES:
        return [
            f"The payloads take {size / 1_000_000:.1f} MB; Workroom starts at most "
            f"{MAX_PAYLOADS_BYTES / 1_000_000:.0f} MB of payloads in one run. Split them."
        ]
    errors: list[str] = []
    many = len(payloads) > 1
    for number, payload in enumerate(payloads, start=1):
        for violation in validate_payload(workspace, process_external_id, payload):
            prefix = f"Payload {number}: " if many else ""
            errors.append(f"{prefix}{violation.path}: {violation.message}")
            if len(errors) >= MAX_SCHEMA_ERRORS:
                errors.append("… more violations not shown.")
                return errors
    if errors:
        errors.insert(0, "The input does not match the process's payload schema:")
    return errors


def parse_start(
    workspace: Workspace,
    process_external_id: str,
    variant: str,
    *,
    payload_text: str = "",
    payloads_text: str = "",
    csv_data: bytes | None = None,
    work_item_ids: list[str] | None = None,
    allowed_item_ids: set[str] | None = None,
) -> StartInput:
    """Validate one start request (the review step and, again, the confirm step)."""
    if variant not in VARIANTS:
        return StartInput("none", errors=["Choose how to start the process."])
    result = StartInput(variant)
    filled = {
        "payload": bool(payload_text.strip()),
        "payloads": bool(payloads_text.strip()),
        "csv": csv_data is not None,
        "work_items": bool(work_item_ids),
    }
    ignored = [VARIANTS[k] for k, given in filled.items() if given and k != variant]
    if ignored:
        # A pasted payload under "No input" would otherwise be dropped without a word.
        result.errors.append(
            f"You filled in “{ignored[0]}” but chose “{VARIANTS[variant]}”: choose the "
            "input you mean, or clear the other one."
        )
        return result
    if variant == "payload":
        value, error = parse_payload(payload_text)
        if error is not None:
            result.errors.append(f"The payload is not valid JSON. {error}")
        else:
            result.payloads = [value]
    elif variant == "payloads":
        values, message = parse_json_array(payloads_text)
        if message:
            result.errors.append(message)
        else:
            result.payloads = values
    elif variant == "csv":
        if csv_data is None:
            result.errors.append("Choose a CSV file to upload.")
        else:
            rows, headers, message = parse_csv(csv_data)
            if message:
                result.errors.append(message)
            else:
                result.payloads, result.csv_headers = list(rows), headers
    elif variant == "work_items":
        result.work_item_ids = _checked_ids(result, work_item_ids, allowed_item_ids)
    if result.payloads is not None:
        result.errors.extend(
            check_payloads(workspace, process_external_id, result.payloads)
        )
    return result


def _checked_ids(
    result: StartInput, ids: list[str] | None, allowed: set[str] | None
) -> list[str]:
    chosen = list(dict.fromkeys(i for i in (ids or []) if i))
    if not chosen:
        result.errors.append("Select at least one work item.")
    elif allowed is not None and not set(chosen) <= allowed:
        result.errors.append(
            "Some selected work items are no longer waiting as new input of this process; "
            "reload the page and select again."
        )
    elif len(chosen) > MAX_PAYLOADS:
        result.errors.append(f"Select at most {MAX_PAYLOADS} work items.")
    return chosen
