"""`fleet_warnings` in every template: the "items pending, no worker online" warnings of the
user's workspaces. A callable, so the query runs only on pages that show it (home, triage,
processes) through `mirror/_no_worker_warning.html`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest

from dashboard.accounts.permissions import teams_for
from dashboard.mirror.selectors import NoWorkerWarning, no_worker_warnings
from dashboard.workspaces.models import Workspace


def fleet_warnings(request: HttpRequest) -> dict[str, Any]:
    def warnings() -> list[NoWorkerWarning]:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return []
        return no_worker_warnings(Workspace.objects.filter(team__in=teams_for(user)))

    compute: Callable[[], list[NoWorkerWarning]] = warnings
    return {"fleet_warnings": compute}
