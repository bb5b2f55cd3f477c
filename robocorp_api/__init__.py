"""Workroom's client for the Robocorp / Sema4.ai Control Room v1 API (plain Python, no Django).

Usage::

    from robocorp_api import ControlRoomClient

    with ControlRoomClient(key, workspace_id=ws, base_url="https://cloud.robocorp.com/api/v1") as client:
        for item in client.work_items.list(state="failed", limit=100):
            ...

See ``robocorp_api/README.md`` for the error table, the retry policy and the mapping of
Control Room connector actions to client methods.
"""

from __future__ import annotations

from robocorp_api.client import DEFAULT_BASE_URL, PERMISSION_FEATURES, ControlRoomClient
from robocorp_api.errors import (
    AmbiguousResult,
    AuthenticationFailed,
    BadRequest,
    Conflict,
    ConnectionFailed,
    ControlRoomError,
    InvalidResponse,
    NotFound,
    PermissionDenied,
    RateLimited,
    ReadTimedOut,
    ServerError,
    TransientError,
    UnexpectedStatus,
)
from robocorp_api.models import (
    EXCEPTION_TYPES,
    PROCESS_RUN_STATES,
    STEP_RUN_STATES,
    WEBHOOK_EVENTS,
    WORK_ITEM_STATES,
    WORKER_STATES,
    Artifact,
    Asset,
    AssetDetails,
    AssetUpload,
    Callback,
    ConsoleMessage,
    Event,
    Process,
    ProcessRun,
    RunOutput,
    StartedRun,
    StepRun,
    UploadTarget,
    Webhook,
    Worker,
    WorkerGroup,
    WorkerGroupLinkToken,
    WorkItem,
    WorkItemException,
    WorkItemFile,
    Workspace,
)
from robocorp_api.pagination import Page, Paginator
from robocorp_api.resources import AssetUploadFailed

__all__ = [
    "DEFAULT_BASE_URL",
    "EXCEPTION_TYPES",
    "PERMISSION_FEATURES",
    "PROCESS_RUN_STATES",
    "STEP_RUN_STATES",
    "WEBHOOK_EVENTS",
    "WORKER_STATES",
    "WORK_ITEM_STATES",
    "AmbiguousResult",
    "Artifact",
    "Asset",
    "AssetDetails",
    "AssetUpload",
    "AssetUploadFailed",
    "AuthenticationFailed",
    "BadRequest",
    "Callback",
    "Conflict",
    "ConnectionFailed",
    "ConsoleMessage",
    "ControlRoomClient",
    "ControlRoomError",
    "Event",
    "InvalidResponse",
    "NotFound",
    "Page",
    "Paginator",
    "PermissionDenied",
    "Process",
    "ProcessRun",
    "RateLimited",
    "ReadTimedOut",
    "RunOutput",
    "ServerError",
    "StartedRun",
    "StepRun",
    "TransientError",
    "UnexpectedStatus",
    "UploadTarget",
    "Webhook",
    "WorkItem",
    "WorkItemException",
    "WorkItemFile",
    "Worker",
    "WorkerGroup",
    "WorkerGroupLinkToken",
    "Workspace",
]
