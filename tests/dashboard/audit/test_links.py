"""Audit log rows link to the page of their object while it exists, by url name alone."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from dashboard.audit import services
from dashboard.audit.links import object_url, with_links
from dashboard.audit.models import AuditEvent
from tests.dashboard.factories import make_workspace_row

pytestmark = pytest.mark.django_db


def _event(team: Any, **fields: Any) -> AuditEvent:
    event = services.record(None, team=team, action="test.event", summary="s")
    for name, value in fields.items():
        setattr(event, name, value)
    return event


def test_known_types_map_to_their_pages(team_a: Any) -> None:
    assert (
        object_url(_event(team_a, object_type="bulk.bulkoperation", object_id="7"))
        == "/bulk/7/"
    )
    assert (
        object_url(_event(team_a, object_type="mirror.workitem", object_id="9"))
        == "/items/9/"
    )
    run = _event(
        team_a,
        object_type="mirror.processrun",
        object_id="3",
        data={"workspace_id": 4, "run_id": "r-1"},
    )
    assert object_url(run) == "/workspaces/4/runs/r-1/"


@pytest.mark.parametrize(
    "fields",
    [
        {"object_type": "accounts.team", "object_id": "1"},
        {"object_type": "nope.thing", "object_id": "1"},
        {"object_type": "bulk.bulkoperation", "object_id": "not-a-number"},
        {"object_type": "bulk.bulkoperation", "object_id": ""},
        {"object_type": "mirror.processrun", "object_id": "3", "data": {}},
    ],
)
def test_others_have_no_link(team_a: Any, fields: dict[str, Any]) -> None:
    assert object_url(_event(team_a, **fields)) == ""


def test_only_existing_objects_are_linked(team_a: Any) -> None:
    workspace = make_workspace_row(team_a, name="Linked WS")
    alive = _event(
        team_a, object_type="workspaces.workspace", object_id=str(workspace.pk)
    )
    gone = _event(team_a, object_type="workspaces.workspace", object_id="987654")
    rows = with_links([alive, gone])
    assert [r.url for r in rows] == [f"/workspaces/{workspace.pk}/", ""]


def test_audit_page_links_the_workspace(
    client_for: Any, team_a: Any, alice: Any
) -> None:
    workspace = make_workspace_row(team_a, name="Linked WS")
    services.record(
        None, team=team_a, action="workspace.x", obj=workspace, summary="x", actor=alice
    )
    services.record(
        None, team=team_a, action="team.x", obj=team_a, summary="y", actor=alice
    )
    body = (
        client_for(alice).get(reverse("audit-event-list", args=[team_a.slug])).content
    )
    assert f'<a href="/workspaces/{workspace.pk}/">Linked WS</a>'.encode() in body
    assert b"<td>Team A</td>" in body
