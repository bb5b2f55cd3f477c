"""Step (robot/activity) runs and their outputs: artifacts, console messages, events (API.md §3.1)."""

from __future__ import annotations

from collections.abc import Iterator

import requests

from robocorp_api.errors import ConnectionFailed, InvalidResponse
from robocorp_api.models import Artifact, ConsoleMessage, Event, StepRun
from robocorp_api.pagination import Paginator
from robocorp_api.resources._base import Resource, require_id, seg


class StepRunsResource(Resource):
    def list(
        self, process_run_id: str, *, limit: int | None = None
    ) -> Paginator[StepRun]:
        """Return a lazy iterator over the step runs of a process run.

        Raises (while iterating):
            PermissionDenied: the key lacks ``Processes.read_processes`` (sic, per the spec).
            ControlRoomError: any other failure.
        """
        return self._list(
            "/step-runs",
            StepRun,
            process_run_id=require_id(process_run_id),
            limit=limit,
        )

    def get(self, step_run_id: str) -> StepRun:
        """Return one step run.

        Raises:
            NotFound: no such step run.
            PermissionDenied: the key lacks ``Processes.read_runs``.
            ControlRoomError: any other failure.
        """
        return self._call("GET", f"/step-runs/{seg(step_run_id)}", StepRun)

    def artifacts(
        self, step_run_id: str, *, limit: int | None = None
    ) -> Paginator[Artifact]:
        """Return a lazy iterator over the artifacts of a step run (without download URLs).

        Raises (while iterating):
            PermissionDenied: the key lacks ``Processes.read_run_outputs``.
            ControlRoomError: any other failure.
        """
        return self._list(
            f"/step-runs/{seg(step_run_id)}/artifacts", Artifact, limit=limit
        )

    def artifact(self, step_run_id: str, artifact_id: str) -> Artifact:
        """Return one artifact including its short-lived download ``url``.

        Raises:
            NotFound: no such artifact.
            PermissionDenied: the key lacks ``Processes.read_run_outputs``.
            ControlRoomError: any other failure.
        """
        return self._call(
            "GET",
            f"/step-runs/{seg(step_run_id)}/artifacts/{seg(artifact_id)}",
            Artifact,
        )

    def download_artifact(self, step_run_id: str, artifact_id: str) -> bytes:
        """Return the bytes of an artifact (its URL is fetched without the API key).

        Raises:
            NotFound: no such artifact.
            InvalidResponse: Control Room gave no download URL.
            ControlRoomError: any other failure of either request.
        """
        return b"".join(self.stream_artifact(step_run_id, artifact_id))

    def stream_artifact(
        self, step_run_id: str, artifact_id: str, chunk_size: int = 65536
    ) -> Iterator[bytes]:
        """Yield the bytes of an artifact in chunks, without holding it all in memory.

        Raises:
            NotFound: no such artifact.
            InvalidResponse: Control Room gave no download URL.
            ControlRoomError: any other failure of either request.
        """
        artifact = self.artifact(step_run_id, artifact_id)
        if not artifact.url:
            raise InvalidResponse(
                "artifact has no download url",
                method="GET",
                path=f"{self._prefix}/step-runs/{seg(step_run_id)}/artifacts/{seg(artifact_id)}",
            )
        response = self._transport.request(
            "GET", artifact.url, authenticated=False, stream=True
        )
        with response:
            try:
                yield from response.iter_content(chunk_size=chunk_size)
            except requests.RequestException as exc:
                # The download URL is presigned; keep it (and its signature) out of the error.
                raise ConnectionFailed(
                    f"artifact download interrupted ({type(exc).__name__})",
                    method="GET",
                    path="<artifact download url>",
                ) from None

    def console_messages(
        self, step_run_id: str, *, limit: int | None = None
    ) -> Paginator[ConsoleMessage]:
        """Return a lazy iterator over the console messages of a step run.

        Raises (while iterating):
            NotFound: no such step run.
            PermissionDenied: the key lacks ``Processes.read_run_outputs``.
            ControlRoomError: any other failure.
        """
        return self._list(
            f"/step-runs/{seg(step_run_id)}/console-messages",
            ConsoleMessage,
            limit=limit,
        )

    def events(self, step_run_id: str, *, limit: int | None = None) -> Paginator[Event]:
        """Return a lazy iterator over the events of a step run.

        Raises (while iterating):
            PermissionDenied: the key lacks ``Processes.read_run_outputs``.
            ControlRoomError: any other failure.
        """
        return self._list(f"/step-runs/{seg(step_run_id)}/events", Event, limit=limit)
