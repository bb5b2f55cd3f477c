"""Teams and workspaces (what each key may do, never the key)."""

from __future__ import annotations

from typing import Any, Literal

from django.http import Http404, HttpRequest
from ninja import Router

from dashboard.accounts.models import Role
from dashboard.api.routes.common import (
    ERRORS,
    Id,
    scope_of,
    token_of,
)
from dashboard.api.schemas import (
    FeatureOut,
    TeamOut,
    WorkspaceOut,
)
from dashboard.workitems.selectors import data_as_of
from dashboard.workspaces.models import FEATURES, Workspace

router = Router()


# --- teams and workspaces -------------------------------------------------------------------


@router.get("/teams", response={200: list[TeamOut], **ERRORS}, tags=["teams"])
def list_teams(request: HttpRequest) -> list[dict[str, Any]]:
    """The token's team (a token belongs to one team)."""
    token = token_of(request)
    role: Literal["viewer", "operator"] = (
        "operator" if token.role >= Role.OPERATOR else "viewer"
    )
    team = token.team
    return [{"id": team.pk, "name": team.name, "slug": team.slug, "role": role}]


def _feature(ws: Workspace, slug: str, label: str) -> FeatureOut:
    why = ws.why_not(slug)
    return FeatureOut(slug=slug, label=label, available=not why, why_not=why)


def _workspace_out(ws: Workspace, as_of: dict[int, Any]) -> dict[str, Any]:
    return {
        "id": ws.pk,
        "team_id": ws.team_id,
        "name": ws.name,
        "cr_workspace_id": ws.cr_workspace_id,
        "enabled": ws.enabled,
        "features": [_feature(ws, f.slug, f.label) for f in FEATURES],
        "data_as_of": as_of.get(ws.pk),
    }


@router.get(
    "/workspaces", response={200: list[WorkspaceOut], **ERRORS}, tags=["workspaces"]
)
def list_workspaces(request: HttpRequest) -> list[dict[str, Any]]:
    """The team's Control Room workspaces and what each key may do (never the key)."""
    scope = scope_of(request)
    as_of = data_as_of(list(scope.workspaces))
    return [_workspace_out(ws, as_of) for ws in scope.workspaces.values()]


def _workspace(request: HttpRequest, workspace_id: int) -> Workspace:
    ws = scope_of(request).workspaces.get(workspace_id)
    if ws is None:
        raise Http404("No such workspace.")
    return ws


@router.get(
    "/workspaces/{workspace_id}",
    response={200: WorkspaceOut, **ERRORS},
    tags=["workspaces"],
)
def get_workspace(request: HttpRequest, workspace_id: int = Id) -> dict[str, Any]:
    ws = _workspace(request, workspace_id)
    return _workspace_out(ws, data_as_of([ws.pk]))
