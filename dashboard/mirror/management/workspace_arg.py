"""The workspace a management command names: its Workroom id, or its exact name."""

from __future__ import annotations

from django.core.management.base import CommandError

from dashboard.workspaces.models import Workspace


def workspace_from_argument(ref: str) -> Workspace:
    """Return the workspace `ref` names; a CommandError (one line, exit 1) when none or
    several do."""
    matches = list(
        Workspace.objects.filter(pk=int(ref))
        if ref.isdigit()
        else Workspace.objects.filter(name=ref)[:2]
    )
    if not matches:
        raise CommandError(f"No workspace {ref!r}.")
    if len(matches) > 1:
        raise CommandError(f"Several workspaces are named {ref!r}: give the id.")
    return matches[0]
