"""Hostile inputs for the no-5xx suites: numbers, text, query strings and form bodies.

`WORKROOM_FUZZ_EXAMPLES` sets how many examples each property runs (default small, for CI);
e.g. `WORKROOM_FUZZ_EXAMPLES=2000` for a long run, which also turns off derandomisation so each
long run explores new inputs.
"""

from __future__ import annotations

import json
import os
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("WORKROOM_FUZZ_EXAMPLES", "0") or 0)


def fuzz_settings(default_examples: int) -> settings:
    """Bounded, deterministic examples in CI; `WORKROOM_FUZZ_EXAMPLES` for a long, random run."""
    return settings(
        max_examples=EXAMPLES or default_examples,
        deadline=None,
        database=None,
        derandomize=not EXAMPLES,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
        ],
        print_blob=True,
    )


def deep_json(depth: int) -> str:
    return "[" * depth + "]" * depth


HUGE_NUMBERS = [
    "99999999999999999999999",
    str(10**30),
    "-1",
    "-99999999999999999999",
    "0",
    "1e400",
    "NaN",
    "inf",
    "0x10",
    "٣",  # an Arabic-Indic digit: str.isdigit() is True, int() accepts it
    "1_000",
    " 7 ",
]
NASTY_TEXT = [
    "",
    "\x00",
    "a\x00b",
    "..",
    "../../etc/passwd",
    "%00",
    "%2F",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "\u202egnp.exe",
    "\ud7ff\ue000\uffff",
    "🙂" * 50,
    "x" * 5000,
    deep_json(5000),
    json.dumps({"a": {"b": [1, 2, {"c": None}]}}),
    "true",
    "null",
    "=cmd|' /C calc'!A0",
    "\r\nX-Injected: 1",
]

hostile_text = st.one_of(
    st.sampled_from(HUGE_NUMBERS + NASTY_TEXT),
    st.text(max_size=40),
    st.integers(min_value=-(10**40), max_value=10**40).map(str),
)

QUERY_KEYS = [
    "page",
    "page_size",
    "per_page",
    "limit",
    "order",
    "sort",
    "state",
    "window",
    "q",
    "query",
    "process",
    "workspace",
    "team",
    "run",
    "action",
    "stage",
    "exception_code",
    "exception_type",
    "started_by",
    "created_from",
    "created_to",
    "updated_from",
    "updated_to",
    "since",
    "until",
    "after",
    "before",
    "range",
    "actor",
    "selection",
    "from",
    "next",
    "variant",
    "ids",
]
FORM_KEYS = [
    *QUERY_KEYS,
    "name",
    "role",
    "api_key",
    "password",
    "custom_url",
    "base_url_choice",
    "cr_workspace_id",
    "sso_tenant",
    "payload",
    "payloads",
    "payloads_json",
    "reason",
    "mode",
    "remaining",
    "confirm",
    "enabled",
    "filter",
    "schema",
    "message",
    "signature",
    "work_item_ids",
    "do",
    "register-username",
    "register-password1",
    "register-password2",
    "username",
]


def params(keys: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """A query string or form body: known keys (and a few unknown ones), hostile values."""
    key = st.one_of(st.sampled_from(keys), st.text(min_size=1, max_size=12))
    value = st.one_of(hostile_text, st.lists(hostile_text, min_size=2, max_size=3))
    return st.dictionaries(key, value, max_size=6)
