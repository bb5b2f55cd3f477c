"""Issue 11 deliverable 2: no input gives a 5xx, on any URL pattern.

Every pattern is enumerated from the URL resolver (a new page is covered without touching this
file) and driven with GET and POST, htmx and not, as every role (anonymous, viewer, operator,
admin, a member of another team), with generated path ids, query strings and form bodies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver
from hypothesis import given
from hypothesis import strategies as st

from dashboard.core.converters import encode_id
from tests.dashboard.fuzz.conftest import World
from tests.dashboard.fuzz.strategies import (
    FORM_KEYS,
    QUERY_KEYS,
    fuzz_settings,
    hostile_text,
    params,
)

pytestmark = [pytest.mark.django_db, pytest.mark.emulator, pytest.mark.slow]

_PARAM = re.compile(r"<(?:(?P<conv>[^>:]+):)?(?P<name>[^>]+)>")


@dataclass(frozen=True)
class Route:
    name: str
    template: str

    def params(self) -> list[tuple[str, str]]:
        return [(m["conv"] or "str", m["name"]) for m in _PARAM.finditer(self.template)]


def all_routes() -> list[Route]:
    """Every URL pattern of the project, with its full route template."""
    found: list[Route] = []

    def walk(patterns: list[Any], prefix: str) -> None:
        for entry in patterns:
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, prefix + str(entry.pattern))
            elif isinstance(entry, URLPattern):
                found.append(Route(entry.name or "?", prefix + str(entry.pattern)))

    walk(get_resolver().url_patterns, "")
    return found


ROUTES = all_routes()


def segment(world: World, converter: str) -> st.SearchStrategy[str]:
    """A path segment for a converter: a known id (as the app writes it) or a hostile one."""
    made_up = hostile_text.filter(bool).map(lambda t: quote(t, safe=""))
    if converter == "int":
        return st.one_of(
            st.sampled_from(world.ints),
            st.integers(min_value=0, max_value=10**30),
        ).map(str)
    if converter == "slug":
        return st.one_of(
            st.sampled_from(world.slugs),
            st.from_regex(r"[-a-zA-Z0-9_]{1,60}", fullmatch=True),
        )
    if converter == "uuid":
        return st.sampled_from(world.uids)
    if converter == "crid":
        return st.one_of(
            st.sampled_from([encode_id(i) for i in world.ids]),
            st.text(min_size=1, max_size=30).map(encode_id),
            st.sampled_from(["~", "~!", "..", "~" + "A" * 3000]),
            made_up,
        )
    return st.one_of(st.sampled_from(world.tokens), made_up)


def request_strategy(world: World, route: Route) -> st.SearchStrategy[dict[str, Any]]:
    path = st.tuples(*(segment(world, conv) for conv, _ in route.params()))
    return st.fixed_dictionaries(
        {
            "segments": path,
            "method": st.sampled_from(["GET", "POST"]),
            "role": st.sampled_from(sorted(world.clients)),
            "htmx": st.booleans(),
            "target": st.sampled_from(["", "status", "console", "row", "<x>"]),
            "query": params(QUERY_KEYS),
            "form": params(FORM_KEYS),
        }
    )


def build_path(route: Route, segments: tuple[str, ...]) -> str:
    parts = iter(segments)
    return "/" + _PARAM.sub(lambda _: next(parts), route.template)


def send(world: World, route: Route, example: dict[str, Any]) -> Any:
    client = world.clients[example["role"]]
    headers = {}
    if example["htmx"]:
        headers = {"HX-Request": "true", "HX-Target": example["target"]}
    path = build_path(route, example["segments"])
    with transaction.atomic():  # a DB error must not poison the following examples
        if example["method"] == "GET":
            response = client.get(path, example["query"], headers=headers)
        else:
            response = client.post(path, example["form"], headers=headers)
    if getattr(response, "streaming", False):
        b"".join(getattr(response, "streaming_content", []))
    return response


# Deliberate 503s: the health check with no worker heartbeat (no worker runs in this suite), and
# a run page whose run Control Room cannot be asked about right now.
DELIBERATE_503 = {"healthz", "processes-run-detail"}


@pytest.mark.parametrize("route", ROUTES, ids=[r.name for r in ROUTES])
def test_no_url_answers_5xx(world: World, route: Route) -> None:
    allowed = {503} if route.name in DELIBERATE_503 else set()

    @fuzz_settings(default_examples=12)
    @given(example=request_strategy(world, route))
    def check(example: dict[str, Any]) -> None:
        response = send(world, route, example)
        assert response.status_code < 500 or response.status_code in allowed, (
            route.template,
            example,
        )

    check()


def test_every_url_pattern_is_enumerated() -> None:
    names = {route.name for route in ROUTES}
    # A sample across apps: if enumeration broke, the suite would silently cover nothing.
    assert {
        "healthz",
        "login",
        "workspaces-add",
        "processes-steprun-detail",
        "workitems-item-payload",
        "bulk-new",
        "mirror-webhook-receive",
        "accounts-invitation-accept",
    } <= names
    assert len(ROUTES) >= 40
