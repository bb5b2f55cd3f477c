"""One resource class per Control Room v1 API family."""

from __future__ import annotations

from robocorp_api.resources.assets import AssetsResource, AssetUploadFailed
from robocorp_api.resources.process_runs import ProcessRunsResource
from robocorp_api.resources.processes import ProcessesResource
from robocorp_api.resources.step_runs import StepRunsResource
from robocorp_api.resources.task_packages import TaskPackagesResource
from robocorp_api.resources.webhooks import WebhooksResource
from robocorp_api.resources.work_items import (
    BATCH_OPERATIONS,
    BatchOperation,
    WorkItemsResource,
)
from robocorp_api.resources.workers import WorkerGroupsResource, WorkersResource
from robocorp_api.resources.workspace import WorkspaceResource

__all__ = [
    "BATCH_OPERATIONS",
    "AssetUploadFailed",
    "AssetsResource",
    "BatchOperation",
    "ProcessRunsResource",
    "ProcessesResource",
    "StepRunsResource",
    "TaskPackagesResource",
    "WebhooksResource",
    "WorkItemsResource",
    "WorkerGroupsResource",
    "WorkersResource",
    "WorkspaceResource",
]
