"""`GET /api/catalogue`: every action Workroom offers, described in the shape of Workato's
connectors API (name, title, description, input fields with type, control type, hint,
optional and pick list) plus how to call it and the JSON Schema of its answer.

Output schemas are generated from the same pydantic models the endpoints answer with, so a
catalogue entry cannot drift from its endpoint; dynamic pick lists are /api/picklists URLs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest
from ninja import Router
from pydantic import TypeAdapter

from dashboard.api import schemas as s
from dashboard.bulk.selectors import RESULT_STATES
from robocorp_api.models import EXCEPTION_TYPES, PROCESS_RUN_STATES, WORK_ITEM_STATES

router = Router()


@dataclass(frozen=True)
class InputField:
    name: str
    label: str
    type: str  # string | integer | boolean | object | array
    control_type: str  # text | integer | select | multiselect | text-area | date
    location: str  # path | query | body (JSON) | file (multipart)
    hint: str = ""
    optional: bool = True
    pick_list: list[tuple[str, str]] | None = None  # static [label, value] pairs
    pick_list_name: str = ""  # dynamic: served by /api/picklists/<name>

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "control_type": self.control_type,
            "hint": self.hint,
            "optional": self.optional,
            "location": self.location,
            "pick_list": [list(p) for p in self.pick_list] if self.pick_list else None,
            "pick_list_url": f"/api/picklists/{self.pick_list_name}?workspace={{workspace}}"
            if self.pick_list_name
            else None,
        }


@dataclass(frozen=True)
class CatalogueAction:
    name: str
    title: str
    description: str
    method: str
    path: str
    output: Any  # the pydantic type of a 2xx answer
    inputs: tuple[InputField, ...] = ()
    bulk: bool = False
    acts: bool = False  # changes something (needs an operator token)
    output_fields: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "deprecated": False,
            "bulk": self.bulk,
            "batch": False,
            "needs_role": "operator" if self.acts else "viewer",
            "method": self.method,
            "path": self.path,
            "input_fields": [f.describe() for f in self.inputs],
            "output_schema": TypeAdapter(self.output).json_schema(mode="serialization"),
        }


def _static(values: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(v.replace("_", " "), v) for v in values]


def _id(name: str, label: str, pick: str, hint: str = "") -> InputField:
    return InputField(
        name, label, "integer", "select", "path", hint, False, pick_list_name=pick
    )


WORKSPACE = InputField(
    "workspace", "Workspace", "integer", "select", "query",
    "Only this workspace's.", pick_list_name="workspaces",
)  # fmt: skip
PROCESS = InputField(
    "process", "Process", "integer", "select", "query",
    "Only this process's.", pick_list_name="processes",
)  # fmt: skip
ITEM = _id("item_id", "Work item", "failed_items", "A failed work item.")
OPERATION = _id("op_id", "Bulk operation", "bulk_operations")
FILTER = InputField(
    "filter", "Filter", "string", "text", "body",
    "The /api/items query string of the items to act on, e.g. "
    "<code>process=12&amp;state=failed&amp;exception_code=HTTP_ERROR</code>; a triage "
    "group's <code>filter</code>.",
)  # fmt: skip
BULK_ACTION = InputField(
    "action", "Action", "string", "select", "body", "", False,
    pick_list=[("Retry", "retry"), ("Mark done", "mark_as_done"), ("Delete", "delete")],
)  # fmt: skip

ACTIONS: tuple[CatalogueAction, ...] = (
    CatalogueAction(
        "list_teams", "List teams", "The token's team and its role.",
        "GET", "/api/teams", list[s.TeamOut],
    ),
    CatalogueAction(
        "list_workspaces", "List workspaces",
        "The team's Control Room workspaces and what each key may do.",
        "GET", "/api/workspaces", list[s.WorkspaceOut],
    ),
    CatalogueAction(
        "get_workspace", "Get workspace", "One workspace and its features.",
        "GET", "/api/workspaces/{workspace_id}", s.WorkspaceOut,
        (_id("workspace_id", "Workspace", "workspaces"),),
    ),
    CatalogueAction(
        "list_processes", "List processes", "Processes with their items per state.",
        "GET", "/api/processes", list[s.ProcessOut], (WORKSPACE,),
    ),
    CatalogueAction(
        "get_process", "Get process", "One process with its items per state.",
        "GET", "/api/processes/{process_id}", s.ProcessOut,
        (_id("process_id", "Process", "processes"),),
    ),
    CatalogueAction(
        "start_process", "Start process (optionally with payloads)",
        "Start a run without input, or with one work item per payload.",
        "POST", "/api/processes/{process_id}/runs", s.StartedOut,
        (
            _id("process_id", "Process", "processes"),
            InputField("payloads", "Payloads", "array", "text-area", "body",
                       "A JSON array; one work item per element."),
        ),
        acts=True,
    ),
    CatalogueAction(
        "list_process_runs", "List process runs", "Runs, newest first, paged.",
        "GET", "/api/runs", s.RunPage,
        (
            WORKSPACE, PROCESS,
            InputField("state", "State", "string", "select", "query",
                       pick_list=_static(PROCESS_RUN_STATES)),
        ),
    ),
    CatalogueAction(
        "get_process_run", "Monitor process run status", "One run's state and times.",
        "GET", "/api/runs/{run_id}", s.RunOut, (_id("run_id", "Process run", "runs"),),
    ),
    CatalogueAction(
        "list_step_runs", "List step runs", "A run's step runs with item counts.",
        "GET", "/api/runs/{run_id}/steps", list[s.StepRunOut],
        (_id("run_id", "Process run", "runs"),),
    ),
    CatalogueAction(
        "list_console_messages", "List step run console messages",
        "One page of a step run's console, read live from Control Room.",
        "GET", "/api/steps/{step_id}/console", s.ConsoleOut,
        (_id("step_id", "Step run", "step_runs"),),
    ),
    CatalogueAction(
        "list_step_run_events", "List step run events",
        "A step run's events, read live from Control Room.",
        "GET", "/api/steps/{step_id}/events", s.SectionOut,
        (_id("step_id", "Step run", "step_runs"),),
    ),
    CatalogueAction(
        "list_step_run_artifacts", "List step run artifacts",
        "A step run's artifacts; each downloads from .../artifacts/{id} (streamed).",
        "GET", "/api/steps/{step_id}/artifacts", s.SectionOut,
        (_id("step_id", "Step run", "step_runs"),),
    ),
    CatalogueAction(
        "list_work_items", "List work items",
        "The explorer's filters and keyset pages; counts per state.",
        "GET", "/api/items", s.ItemPage,
        (
            WORKSPACE, PROCESS,
            InputField("state", "State", "array", "multiselect", "query",
                       pick_list=_static(WORK_ITEM_STATES)),
            InputField("exception_type", "Exception type", "string", "select", "query",
                       pick_list=_static(EXCEPTION_TYPES)),
            InputField("exception_code", "Exception code", "string", "select", "query",
                       pick_list_name="codes"),
            InputField("message", "Message text", "string", "text", "query",
                       "Part of the exception message."),
        ),
    ),
    CatalogueAction(
        "get_work_item", "Get work item", "One item with its payload and files.",
        "GET", "/api/items/{item_id}", s.WorkItemDetail, (ITEM,),
    ),
    CatalogueAction(
        "update_work_item_payload", "Update work item data (JSON)",
        "Replace an item's payload; checked against the process's JSON Schema.",
        "POST", "/api/items/{item_id}/payload", s.ActionOut,
        (ITEM, InputField("payload", "Payload", "object", "text-area", "body",
                          "Any JSON value.", False)),
        acts=True,
    ),
    CatalogueAction(
        "upload_work_item_file", "Upload a work item file",
        "Attach a file to an item (multipart field file), streamed to Control Room.",
        "POST", "/api/items/{item_id}/files", s.ActionOut,
        (ITEM, InputField("file", "File", "object", "file", "file", "", False)),
        acts=True,
    ),
    CatalogueAction(
        "retry_work_item", "Retry work item", "Retry one failed item.",
        "POST", "/api/items/{item_id}/retry", s.ActionOut, (ITEM,), acts=True,
    ),
    CatalogueAction(
        "mark_work_item_done", "Mark work item as completed",
        "Mark one failed item done.",
        "POST", "/api/items/{item_id}/mark-done", s.ActionOut, (ITEM,), acts=True,
    ),
    CatalogueAction(
        "delete_work_item", "Delete work item", "Delete one failed item.",
        "POST", "/api/items/{item_id}/delete", s.ActionOut, (ITEM,), acts=True,
    ),
    CatalogueAction(
        "list_failure_groups", "List failure groups (triage)",
        "Failed items grouped by cause; each group's filter selects its items.",
        "GET", "/api/triage", s.TriageOut,
        (
            WORKSPACE, PROCESS,
            InputField("exception_type", "Exception type", "string", "select", "query",
                       pick_list=_static(EXCEPTION_TYPES)),
        ),
    ),
    CatalogueAction(
        "preview_bulk_action", "Preview a bulk action by filter",
        "Freeze the items a filter matches (or ids) for a retry, mark done or delete: "
        "counts and ineligible items; nothing is sent before it is confirmed.",
        "POST", "/api/bulk", s.BulkOut, (BULK_ACTION, FILTER), bulk=True, acts=True,
    ),
    CatalogueAction(
        "confirm_bulk_action", "Confirm a bulk action",
        "Run a preview; the reason goes to the audit log.",
        "POST", "/api/bulk/{op_id}/confirm", s.BulkOut,
        (OPERATION, InputField("reason", "Reason", "string", "text", "body", "", False)),
        bulk=True, acts=True,
    ),
    CatalogueAction(
        "get_bulk_operation", "Get bulk operation progress",
        "State, counts and percent done.",
        "GET", "/api/bulk/{op_id}", s.BulkOut, (OPERATION,),
    ),
    CatalogueAction(
        "list_bulk_results", "List bulk operation results", "Per-item results, paged.",
        "GET", "/api/bulk/{op_id}/results", s.BulkItemPage,
        (OPERATION, InputField("state", "Result", "string", "select", "query",
                               pick_list=_static(RESULT_STATES))),
    ),
    CatalogueAction(
        "cancel_bulk_operation", "Cancel a bulk operation",
        "Chunks not started are cancelled; a running one finishes.",
        "POST", "/api/bulk/{op_id}/cancel", s.BulkOut, (OPERATION,), bulk=True, acts=True,
    ),
    CatalogueAction(
        "list_saved_views", "List saved views", "The team's saved explorer filters.",
        "GET", "/api/saved-views", list[s.SavedViewOut],
    ),
)  # fmt: skip


def catalogue() -> dict[str, Any]:
    """The connector description of Workroom."""
    return {
        "name": "workroom",
        "title": "Workroom",
        "categories": ["Robotic process automation", "Operations"],
        "oauth": False,
        "deprecated": False,
        "secondary": False,
        "connection": {
            "type": "bearer",
            "hint": "A Workroom API token (team's API tokens page); its team and role "
            "decide what every action may see and do.",
        },
        "actions": [a.describe() for a in ACTIONS],
        # Workroom sends no outgoing webhooks yet, so it offers no triggers.
        "triggers": [],
    }


@router.get("/catalogue", response=dict[str, Any], tags=["catalogue"])
def get_catalogue(request: HttpRequest) -> dict[str, Any]:
    """Every action Workroom offers, in the shape of Workato's connectors API."""
    return catalogue()
