"""Process runs: list/get/stop/delete/outputs and starting a run (API.md §3.1, §3.3)."""

from __future__ import annotations

import builtins
from typing import Any

from robocorp_api.models import Callback, Model, ProcessRun, RunOutput, StartedRun
from robocorp_api.pagination import Paginator
from robocorp_api.resources._base import Resource, seg


class _Accepted(Model):
    accepted: bool


class ProcessRunsResource(Resource):
    def list(
        self,
        *,
        process_id: str | None = None,
        state: str | None = None,
        limit: int | None = None,
    ) -> Paginator[ProcessRun]:
        """Return a lazy iterator over process runs, optionally filtered.

        Args:
            process_id: only runs of this process.
            state: only runs in this state (see ``models.PROCESS_RUN_STATES``).
            limit: page size.

        Raises (while iterating):
            PermissionDenied: the key lacks ``Processes.read_runs``.
            ControlRoomError: any other failure.
        """
        return self._list(
            "/process-runs", ProcessRun, process_id=process_id, state=state, limit=limit
        )

    def get(self, process_run_id: str) -> ProcessRun:
        """Return one process run.

        Raises:
            NotFound: no such run.
            PermissionDenied: the key lacks ``Processes.read_processes`` (sic, per the spec).
            ControlRoomError: any other failure.
        """
        return self._call("GET", f"/process-runs/{seg(process_run_id)}", ProcessRun)

    def stop(
        self,
        process_run_id: str,
        *,
        set_remaining_work_items_as_done: bool,
        terminate_ongoing_activity_runs: bool,
        reason: str | None = None,
    ) -> bool:
        """Ask Control Room to stop a run; return whether the request was accepted.

        Args:
            set_remaining_work_items_as_done: mark unprocessed items done instead of failed.
            terminate_ongoing_activity_runs: end running steps now ("Terminating") instead of
                letting the current item finish ("Stopping").
            reason: optional free text recorded with the stop.

        Raises:
            NotFound: no such run.
            PermissionDenied: the key lacks ``Processes.trigger_processes``.
            AmbiguousResult: the request was sent but no answer came.
            ControlRoomError: any other failure.
        """
        body: dict[str, Any] = {
            "set_remaining_work_items_as_done": set_remaining_work_items_as_done,
            "terminate_ongoing_activity_runs": terminate_ongoing_activity_runs,
        }
        if reason is not None:
            body["reason"] = reason
        return self._call(
            "POST", f"/process-runs/{seg(process_run_id)}/stop", _Accepted, json=body
        ).accepted

    def delete(self, process_run_id: str) -> None:
        """Delete a finished process run.

        Raises:
            NotFound: no such run.
            Conflict: the run is still going.
            PermissionDenied: the key lacks ``Processes.read_runs`` (sic, per the spec).
            AmbiguousResult: the request was sent but no answer came.
            ControlRoomError: any other failure.
        """
        self._send("DELETE", f"/process-runs/{seg(process_run_id)}")

    def outputs(
        self, process_run_id: str, *, limit: int | None = None
    ) -> Paginator[RunOutput]:
        """Return a lazy iterator over the output work items of a run.

        Raises (while iterating):
            PermissionDenied: the key lacks ``Processes.read_work_items``.
            ControlRoomError: any other failure.
        """
        return self._list(
            f"/process-runs/{seg(process_run_id)}/outputs", RunOutput, limit=limit
        )

    def start(
        self,
        process_id: str,
        *,
        payloads: builtins.list[Any] | None = None,
        work_item_ids: builtins.list[str] | None = None,
        with_inputs: bool = False,
        callback: Callback | None = None,
    ) -> StartedRun:
        """Start a run of a process with at most one of the body variants of API.md §3.3.

        With no variant the run starts "without work items" (Control Room creates one empty
        input item). The request is never re-sent after a 5xx or a lost answer: a duplicate
        run cannot be taken back.

        Args:
            payloads: one new input work item per payload (``with_payloads``); one run.
            work_item_ids: items created earlier with ``work_items.create`` (``with_work_item_ids``).
            with_inputs: consume the items waiting in the process input queue (``with_inputs``);
                answers ``started=False`` when none wait.
            callback: per-run callback (URL, secret, events).

        Raises:
            ValueError: more than one variant was given.
            BadRequest: the body was rejected (e.g. unknown work item ids).
            Conflict: the process cannot start now.
            PermissionDenied: the key lacks ``Processes.trigger_processes``.
            AmbiguousResult: the request was sent but no answer came; list runs to reconcile.
            ControlRoomError: any other failure.
        """
        chosen = [payloads is not None, work_item_ids is not None, with_inputs]
        if sum(chosen) > 1:
            raise ValueError(
                "choose at most one of payloads, work_item_ids and with_inputs"
            )
        body: dict[str, Any] = {}
        if payloads is not None:
            body = {"type": "with_payloads", "payloads": list(payloads)}
        elif work_item_ids is not None:
            body = {"type": "with_work_item_ids", "work_item_ids": list(work_item_ids)}
        elif with_inputs:
            body = {"type": "with_inputs"}
        if callback is not None:
            body["callback"] = callback.model_dump(mode="json")
        return self._call(
            "POST", f"/processes/{seg(process_id)}/process-runs", StartedRun, json=body
        )
