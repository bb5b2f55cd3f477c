"""After each finished sync (mirror's `sync_finished`), evaluate the workspace's alert rules."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.db.models import Q

from dashboard.alerts.models import Condition, Rule
from dashboard.mirror.models import SyncRun
from dashboard.mirror.signals import sync_finished

# The sync writes its failure bookkeeping (consecutive failures, needs attention) just after
# announcing; a short delay lets the evaluation see it (the beat catches anything later). Syncs
# of one workspace finishing within the delay (a burst of webhook syncs) share one evaluation:
# it reads the database when it runs, after all of them.
EVALUATE_DELAY_SECONDS = 2.0


def _on_sync_finished(sender: Any, sync_run: SyncRun, **kwargs: Any) -> None:
    transaction.on_commit(partial(_enqueue, sync_run.workspace_id), robust=True)


def _enqueue(workspace_id: int) -> None:
    from dashboard.alerts.services import task_options
    from dashboard.alerts.tasks import evaluate_workspace

    watched = Rule.objects.filter(
        Q(workspace__isnull=True) | Q(workspace_id=workspace_id),
        team__workspaces=workspace_id,
        enabled=True,
    ).exclude(condition=Condition.EVENT)
    if not watched.exists():
        return  # no rule watches this workspace: nothing to evaluate

    # cache.add is atomic (Redis SET NX): one evaluation queued per workspace and delay.
    if not cache.add(
        f"alerts:evaluate:{workspace_id}", 1, timeout=EVALUATE_DELAY_SECONDS
    ):
        return
    evaluate_workspace.apply_async(
        args=(workspace_id,), **task_options(EVALUATE_DELAY_SECONDS)
    )


def connect() -> None:
    sync_finished.connect(
        _on_sync_finished, sender=SyncRun, dispatch_uid="alerts-evaluate-after-sync"
    )
