"""The API's input and output shapes (pydantic models, so the OpenAPI document and the
catalogue's output schemas come from the same code that answers)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from ninja import Schema
from pydantic import Field, StringConstraints

# PostgreSQL refuses NUL in text: refused here with a 422, never a 500.
Text = Annotated[str, StringConstraints(pattern=r"^[^\x00]*$")]


class Problem(Schema):
    """An RFC 9457 problem document."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[Any] | None = None


class TeamOut(Schema):
    id: int
    name: str
    slug: str
    role: Literal["viewer", "operator"]


class FeatureOut(Schema):
    slug: str
    label: str
    available: bool
    why_not: str


class WorkspaceOut(Schema):
    id: int
    team_id: int
    name: str
    cr_workspace_id: str
    enabled: bool
    features: list[FeatureOut]
    data_as_of: datetime | None


class ProcessOut(Schema):
    id: int
    workspace_id: int
    external_id: str
    name: str
    item_counts: dict[str, int]


class RunOut(Schema):
    id: int
    workspace_id: int
    process_id: int | None
    external_id: str
    number: int | None = Field(
        None,
        description="Workroom's number of the run within its process, oldest first "
        "(Control Room's v1 API gives none); null until numbered after the next sync.",
    )
    state: str
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    duration: float | None
    started_by_type: str


class RunPage(Schema):
    runs: list[RunOut]
    next: str | None


class StepRunOut(Schema):
    id: int
    external_id: str
    step_name: str
    state: str
    error_code: str
    started_at: datetime | None
    ended_at: datetime | None
    items: int
    failed_items: int


class ConsoleOut(Schema):
    step_run_id: int
    messages: list[dict[str, Any]]
    page: int
    next: str | None
    error: str


class WorkItemOut(Schema):
    id: int
    workspace_id: int
    process_id: int | None
    external_id: str
    process_external_id: str
    process_run_external_id: str
    step_run_external_id: str
    state: str
    state_updated_at: datetime | None
    created_at: datetime
    exception_type: str
    exception_code: str
    exception_message: str


class WorkItemDetail(WorkItemOut):
    payload: Any = None
    files: list[Any]
    data_as_of: datetime | None


class ItemPage(Schema):
    items: list[WorkItemOut]
    next: str | None
    counts: dict[str, int]


class ActionOut(Schema):
    message: str
    item: WorkItemDetail


class PayloadIn(Schema):
    payload: Any


class TriageGroupOut(Schema):
    workspace_id: int
    process_id: int | None
    process_name: str
    exception_type: str
    exception_code: str
    signature: str
    count: int
    first_seen: datetime | None
    last_seen: datetime | None
    sample_message: str
    advice: str
    filter: str


class TriageOut(Schema):
    groups: list[TriageGroupOut]
    total_failed: int
    truncated: bool


class BulkIn(Schema):
    action: Literal["retry", "mark_as_done", "delete"]
    filter: Annotated[Text, Field(max_length=2000)] = ""
    ids: list[Annotated[int, Field(ge=1, le=2**53)]] | None = None
    team: Annotated[int, Field(ge=1, le=2**53)] | None = None


class ConfirmIn(Schema):
    reason: Annotated[Text, Field(max_length=2000)]


class CountOut(Schema):
    label: str
    count: int


class BulkOut(Schema):
    id: int
    action: str
    state: str
    selection: str
    filter: str
    created_by: str
    reason: str
    total: int
    ineligible: int
    queued: int
    done: int
    skipped: int
    failed: int
    cancelled: int
    percent: int
    created_at: datetime
    confirmed_at: datetime | None
    finished_at: datetime | None
    status_note: str
    ineligible_reasons: list[CountOut]
    by_process: list[CountOut]


class BulkItemOut(Schema):
    id: int
    work_item_id: int | None
    external_id: str
    state: str
    reason: str
    finished_at: datetime | None


class BulkItemPage(Schema):
    results: list[BulkItemOut]
    next: str | None


class SavedViewOut(Schema):
    id: int
    team_id: int
    name: str
    filter: str


class Choice(Schema):
    label: str
    value: str


class PickListOut(Schema):
    name: str
    choices: list[Choice]


class StartIn(Schema):
    """No payloads: a run without input; `payloads`: one work item per element."""

    payloads: list[Any] | None = Field(None, min_length=1, max_length=10_000)


class StartedOut(Schema):
    started: bool
    run: RunOut | None
    message: str


class SectionOut(Schema):
    step_run_id: int
    rows: list[dict[str, Any]]
    truncated: bool
    error: str
