"""Typed results of the Control Room v1 API (schemas in API.md §3.4).

Field names are exactly the v1 JSON names. Unknown fields are ignored and states are
plain strings, so schema drift on Control Room's side (a new field, a new state) never
crashes a caller; the known values are listed in the ``*_STATES`` constants.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

__all__ = [
    "EXCEPTION_TYPES",
    "PROCESS_RUN_STATES",
    "STARTED_BY_TYPES",
    "STEP_RUN_STATES",
    "WEBHOOK_EVENTS",
    "WORKER_STATES",
    "WORK_ITEM_STATES",
    "Artifact",
    "Asset",
    "AssetDetails",
    "AssetPayload",
    "AssetUpload",
    "Callback",
    "ConsoleMessage",
    "DownloadLink",
    "Event",
    "LinkToken",
    "Model",
    "NamedRef",
    "Organization",
    "Page",
    "Process",
    "ProcessRun",
    "Ref",
    "RunOutput",
    "StartedBy",
    "StartedRun",
    "StepRun",
    "StepRunError",
    "TaskPackage",
    "UploadTarget",
    "Webhook",
    "WorkItem",
    "WorkItemException",
    "WorkItemFile",
    "Worker",
    "WorkerGroup",
    "WorkerGroupLinkToken",
    "WorkerGroupMembership",
    "Workspace",
]

WORK_ITEM_STATES = ("new", "pending", "in_progress", "failed", "done")
PROCESS_RUN_STATES = ("new", "in_progress", "completed", "unresolved", "stopping")
STEP_RUN_STATES = ("new", "awaiting_worker", "in_progress", "completed", "failed")
EXCEPTION_TYPES = ("application", "business", "orchestrator", "unspecified")
STARTED_BY_TYPES = ("api", "user", "schedule", "email")
WEBHOOK_EVENTS = (
    "process_run.started",
    "process_run.completed",
    "process_run.unresolved",
)
CALLBACK_EVENTS = ("started", "completed", "unresolved")
WORKER_STATES = ("offline", "idle", "busy")


def _assume_utc(value: datetime) -> datetime:
    # Control Room sends "...Z"; a timestamp without offset is read as UTC rather
    # than left naive, so comparisons with aware datetimes never raise.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


Timestamp = Annotated[datetime, AfterValidator(_assume_utc)]


class Model(BaseModel):
    """Base of every API model: immutable, unknown fields ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class Ref(Model):
    id: str


class NamedRef(Model):
    id: str
    name: str | None = None


class Organization(Model):
    id: str
    name: str | None = None


class Workspace(Model):
    id: str
    name: str
    organization: Organization | None = None


class Process(Model):
    id: str
    name: str
    created_at: Timestamp | None = None


class StartedBy(Model):
    type: str
    details: dict[str, Any] | None = None


class ProcessRun(Model):
    id: str
    state: str
    created_at: Timestamp
    started_at: Timestamp | None = None
    ended_at: Timestamp | None = None
    process: NamedRef
    started_by: StartedBy | None = None
    duration: float | None = None


class StepRunError(Model):
    code: str | None = None


class StepRun(Model):
    id: str
    state: str
    state_updated_at: Timestamp | None = None
    error: StepRunError | None = None
    started_at: Timestamp | None = None
    ended_at: Timestamp | None = None
    duration: float | None = None
    step: NamedRef | None = None


class WorkItemException(Model):
    type: str | None = None
    code: str | None = None
    message: str | None = None


class WorkItemFile(Model):
    id: str
    name: str
    size: int


class WorkItem(Model):
    """A work item. List rows carry no ``payload``/``files``; get and create do."""

    id: str
    created_at: Timestamp
    state: str
    state_updated_at: Timestamp | None = None
    process: Ref
    process_run: Ref | None = None
    step: Ref | None = None
    step_run: Ref | None = None
    exception: WorkItemException | None = None
    payload: Any = None
    files: list[WorkItemFile] = Field(default_factory=list)


class RunOutput(Model):
    """An output work item of a process run (``GET /process-runs/{id}/outputs``)."""

    id: str
    created_at: Timestamp | None = None
    process: Ref | None = None
    process_run: Ref | None = None
    payload: Any = None
    files: list[WorkItemFile] = Field(default_factory=list)


class Artifact(Model):
    id: str
    name: str
    size: int | None = None
    url: str | None = Field(default=None, repr=False)


class ConsoleMessage(Model):
    timestamp: Timestamp | None = None
    message: str


class Event(Model):
    """A step-run event; the spec types ``timestamp`` as a string, so a value that is
    not a date-time is kept as the raw string."""

    model_config = ConfigDict(extra="allow", frozen=True)

    timestamp: Annotated[Timestamp | str | None, Field(union_mode="left_to_right")] = (
        None
    )
    event_type: str


class Webhook(Model):
    id: str
    process: Ref | None = None
    enabled_events: list[str] = Field(default_factory=list)
    endpoint: str
    secret: str | None = Field(default=None, repr=False)


class StartedRun(Model):
    started: bool
    id: str | None = None


class UploadTarget(Model):
    url: str = Field(repr=False)
    form_data: dict[str, str] = Field(default_factory=dict, repr=False)


class Callback(Model):
    """Per-run callback for ``process_runs.start`` (API.md §3.3): Control Room POSTs to
    ``url``, signed with ``secret``, on the listed ``callback_events``."""

    url: str
    secret: str = Field(repr=False)
    callback_events: list[str] = Field(default_factory=lambda: list(CALLBACK_EVENTS))


class Worker(Model):
    id: str
    name: str
    state: str


class WorkerGroup(Model):
    id: str
    name: str


class WorkerGroupMembership(Model):
    """The answer of adding a worker to a group or removing it: the worker's groups now."""

    worker: Ref
    worker_groups: list[WorkerGroup] = Field(default_factory=list)


class LinkToken(Model):
    """A workspace link token; ``link_token`` is the secret a worker links itself with."""

    id: str
    expires_at: Timestamp | None = None
    link_token: str = Field(repr=False)


class WorkerGroupLinkToken(Model):
    """A worker group's link token; the secret ``link_token`` only in a create answer."""

    id: str
    name: str
    expires_at: Timestamp | None = None
    worker_group: Ref
    link_token: str | None = Field(default=None, repr=False)


class TaskPackage(Model):
    id: str
    name: str


class DownloadLink(Model):
    url: str = Field(repr=False)


class Asset(Model):
    id: str
    name: str


class AssetPayload(Model):
    """``type`` is ``empty``, ``url`` (download from ``url``) or ``data`` (inline ``data``)."""

    type: str
    content_type: str | None = None
    url: str | None = Field(default=None, repr=False)
    data: str | None = Field(default=None, repr=False)


class AssetDetails(Model):
    id: str
    name: str
    payload: AssetPayload


class AssetUpload(Model):
    """``status``: ``pending`` (bytes go to ``upload_url``), ``completed`` or ``failed`` (``reason``)."""

    id: str
    status: str
    content_type: str | None = None
    upload_url: str | None = Field(default=None, repr=False)
    reason: str | None = None


T = TypeVar("T", bound=BaseModel)


class Page(Model, Generic[T]):
    """One page of a v1 list: ``{"data": [...], "has_more": bool, "next": url | null}``."""

    data: list[T]
    has_more: bool = False
    next: str | None = None
