"""The one way the tests fill the mirror from Control Room: `full_sync(workspace)`.

It runs the mirror's own sync service in-process (no Celery) over real HTTP, then records
"data as of now" and rebuilds triage's failure-group rollup the way a successful scheduled
sync (and its `sync_finished` receiver) does, so pages show fresh data.
"""

from __future__ import annotations

from typing import NamedTuple

from django.utils import timezone

from dashboard.mirror.models import WorkspaceSyncState
from dashboard.mirror.services.runnumbers import number_new_runs
from dashboard.mirror.services.sync import SyncResult, WorkspaceSync
from dashboard.workitems import rollup
from dashboard.workspaces.models import Workspace
from dashboard.workspaces.services import build_client


class SyncOutcome(NamedTuple):
    result: SyncResult
    requests: int


def full_sync(workspace: Workspace) -> SyncOutcome:
    """Run one full sync of `workspace`; return its result and the HTTP requests it made."""
    # Short client backoff: a fault a test injects is retried in milliseconds, not seconds.
    with build_client(workspace, backoff_base=0.01, backoff_max=0.05) as client:
        result = WorkspaceSync(workspace, client).run_full()
        requests = client.requests_made
    WorkspaceSyncState.objects.filter(pk=workspace.pk).update(
        last_success_at=timezone.now(), consecutive_failures=0
    )
    # What the receivers of `sync_finished` do after a scheduled sync (no SyncRun here).
    number_new_runs(workspace.pk)
    rollup.refresh_workspace(workspace.pk)
    return SyncOutcome(result, requests)
