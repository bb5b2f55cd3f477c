"""``ControlRoomClient``: the entry point to the Control Room v1 API for one workspace."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from types import TracebackType
from urllib.parse import quote

import requests

from robocorp_api._http import Timeout, Transport
from robocorp_api.errors import (
    AuthenticationFailed,
    BadRequest,
    Conflict,
    ControlRoomError,
    NotFound,
    PermissionDenied,
)
from robocorp_api.resources import (
    AssetsResource,
    ProcessesResource,
    ProcessRunsResource,
    StepRunsResource,
    TaskPackagesResource,
    WebhooksResource,
    WorkerGroupsResource,
    WorkersResource,
    WorkItemsResource,
    WorkspaceResource,
)

__all__ = ["DEFAULT_BASE_URL", "PERMISSION_FEATURES", "ControlRoomClient"]

DEFAULT_BASE_URL = "https://cloud.robocorp.com/api/v1"

PERMISSION_FEATURES = (
    "read_processes",
    "read_runs",
    "read_work_items",
    "write_work_items",
    "trigger_processes",
    "read_run_outputs",
    "read_webhooks",
    "write_webhooks",
    "read_workers",
    "write_workers",
    "read_task_packages",
    "write_task_packages",
    "read_asset_storage_assets",
    "write_asset_storage_assets",
)


class ControlRoomClient:
    """Client of the Control Room v1 API, bound to one workspace.

    Resources: ``workspace``, ``processes``, ``process_runs``, ``step_runs``,
    ``work_items``, ``webhooks``. One pooled ``requests.Session`` serves every call;
    ``requests_made`` counts HTTP requests sent, retries included.

    Args:
        api_key: the workspace API key (sent as ``Authorization: RC-WSKEY <key>``, only
            to ``base_url``'s origin; never shown in repr, errors or logs).
        workspace_id: the workspace every path is under.
        base_url: API root ending in ``/api/v1``.
        timeout: seconds, or (connect, read) seconds, per request.
        max_retries: retries after the first attempt for transient failures.
        session: a session to use instead of a new one (then ``close()`` leaves it open).
        backoff_base: first backoff ceiling in seconds (doubles per retry, full jitter).
        backoff_max: largest backoff ceiling in seconds.
        max_retry_after: longest ``Retry-After`` slept; a longer one raises ``RateLimited``.

    Raises:
        ValueError: empty key or workspace id, or a base URL that is not absolute http(s).
    """

    def __init__(
        self,
        api_key: str,
        *,
        workspace_id: str,
        base_url: str = DEFAULT_BASE_URL,
        timeout: Timeout = (5, 30),
        max_retries: int = 4,
        session: requests.Session | None = None,
        backoff_base: float = 0.5,
        backoff_max: float = 8.0,
        max_retry_after: float = 10.0,
    ) -> None:
        if not workspace_id:
            raise ValueError("workspace_id must not be empty")
        self.workspace_id = workspace_id
        self._transport = Transport(
            api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            backoff_base=backoff_base,
            backoff_max=backoff_max,
            max_retry_after=max_retry_after,
            session=session,
        )
        self.workspace = WorkspaceResource(self._transport, workspace_id)
        self.processes = ProcessesResource(self._transport, workspace_id)
        self.process_runs = ProcessRunsResource(self._transport, workspace_id)
        self.step_runs = StepRunsResource(self._transport, workspace_id)
        self.work_items = WorkItemsResource(self._transport, workspace_id)
        self.webhooks = WebhooksResource(self._transport, workspace_id)
        self.workers = WorkersResource(self._transport, workspace_id)
        self.worker_groups = WorkerGroupsResource(self._transport, workspace_id)
        self.task_packages = TaskPackagesResource(self._transport, workspace_id)
        self.assets = AssetsResource(self._transport, workspace_id)

    @property
    def base_url(self) -> str:
        return self._transport.base_url

    @property
    def session(self) -> requests.Session:
        return self._transport.session

    @property
    def requests_made(self) -> int:
        """HTTP requests sent so far, retries and presigned up/downloads included."""
        return self._transport.requests_made

    def __repr__(self) -> str:
        return f"ControlRoomClient(workspace_id={self.workspace_id!r}, base_url={self.base_url!r})"

    def close(self) -> None:
        """Close the session if the client created it."""
        self._transport.close()

    def __enter__(self) -> ControlRoomClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def probe_permissions(self) -> dict[str, bool | None]:
        """Return which Workroom features the key's permissions allow, changing nothing.

        Reads are probed with ``limit=1`` list calls. Writes are probed with requests that
        target an id that cannot exist, so they change nothing even when allowed: Control
        Room checks the permission before looking the object up, so 403 means "missing"
        and 404 (or 400/409: rejected after the check) means "allowed". A value is None
        when the answer was none of these (e.g. a transient failure).

        Raises:
            AuthenticationFailed: the key itself is rejected.
        """
        ghost = quote(f"workroom-permission-probe-{uuid.uuid4().hex}", safe="")
        no_op_stop = {
            "set_remaining_work_items_as_done": False,
            "terminate_ongoing_activity_runs": False,
        }
        t = self._transport
        ws = f"/workspaces/{quote(self.workspace_id, safe='')}"
        probes: dict[str, Callable[[], object]] = {
            "read_processes": lambda: t.request("GET", t.url(f"{ws}/processes")),
            "read_runs": lambda: t.request(
                "GET", t.url(f"{ws}/process-runs"), params={"limit": 1}
            ),
            "read_work_items": lambda: t.request(
                "GET", t.url(f"{ws}/work-items"), params={"limit": 1}
            ),
            "write_work_items": lambda: t.request(
                "PUT", t.url(f"{ws}/work-items/{ghost}/payload"), json={"payload": {}}
            ),
            "trigger_processes": lambda: t.request(
                "POST", t.url(f"{ws}/process-runs/{ghost}/stop"), json=no_op_stop
            ),
            "read_run_outputs": lambda: t.request(
                "GET", t.url(f"{ws}/step-runs/{ghost}/artifacts"), params={"limit": 1}
            ),
            "read_webhooks": lambda: t.request("GET", t.url(f"{ws}/webhooks")),
            "write_webhooks": lambda: t.request(
                "DELETE", t.url(f"{ws}/webhooks/{ghost}")
            ),
            "read_workers": lambda: t.request(
                "GET", t.url(f"{ws}/workers"), params={"limit": 1}
            ),
            "write_workers": lambda: t.request(
                "DELETE", t.url(f"{ws}/worker-groups/{ghost}")
            ),
            "read_task_packages": lambda: t.request(
                "GET", t.url(f"{ws}/task-packages/{ghost}/download")
            ),
            "write_task_packages": lambda: t.request(
                "DELETE", t.url(f"{ws}/task-packages/{ghost}")
            ),
            "read_asset_storage_assets": lambda: t.request(
                "GET", t.url(f"{ws}/assets")
            ),
            "write_asset_storage_assets": lambda: t.request(
                "DELETE", t.url(f"{ws}/assets/{ghost}")
            ),
        }
        return {feature: _probe(send) for feature, send in probes.items()}


def _probe(send: Callable[[], object]) -> bool | None:
    try:
        send()
    except AuthenticationFailed:
        raise
    except PermissionDenied:
        return False
    except (NotFound, BadRequest, Conflict):
        # Rejected for another reason after the permission check passed.
        return True
    except ControlRoomError:
        return None
    return True
