"""Work items: list/get/create, payload update, file upload and batch operations (API.md §3.1, §3.6, §4.2)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, BinaryIO, Literal, get_args

from robocorp_api._multipart import FileSource, MultipartStream
from robocorp_api.models import Model, UploadTarget, WorkItem
from robocorp_api.pagination import Paginator, RowPaginator
from robocorp_api.resources._base import Resource, require_id, seg

BatchOperation = Literal["retry", "mark_as_done", "delete"]
BATCH_OPERATIONS: tuple[str, ...] = get_args(BatchOperation)


class _Accepted(Model):
    accepted: bool


class _PayloadEnvelope(Model):
    payload: Any = None


class WorkItemsResource(Resource):
    def list(
        self,
        *,
        process_id: str | None = None,
        process_run_id: str | None = None,
        state: str | None = None,
        limit: int | None = None,
    ) -> Paginator[WorkItem]:
        """Return a lazy iterator over work items (rows without payload and files).

        Args:
            process_id: only items of this process.
            process_run_id: only items of this run.
            state: only items in this state (see ``models.WORK_ITEM_STATES``).
            limit: page size.

        Raises (while iterating):
            PermissionDenied: the key lacks ``Processes.read_work_items``.
            ControlRoomError: any other failure.
        """
        return self._list(
            "/work-items",
            WorkItem,
            process_id=process_id,
            process_run_id=process_run_id,
            state=state,
            limit=limit,
        )

    def list_rows(
        self,
        *,
        process_id: str | None = None,
        process_run_id: str | None = None,
        state: str | None = None,
        limit: int | None = None,
    ) -> RowPaginator:
        """As `list`, but the rows are lean `rows.WorkItemRow`s (msgspec structs with the
        same attributes, about ten times cheaper to decode): for reading many items.

        Raises (while iterating): as `list`.
        """
        params = {
            "process_id": process_id,
            "process_run_id": process_run_id,
            "state": state,
            "limit": limit,
        }
        return RowPaginator(
            self._transport, self._prefix + "/work-items", params=params
        )

    def get(self, work_item_id: str) -> WorkItem:
        """Return one work item with its payload and files.

        Raises:
            NotFound: no such item.
            PermissionDenied: the key lacks ``Processes.read_work_items``.
            ControlRoomError: any other failure.
        """
        return self._call("GET", f"/work-items/{seg(work_item_id)}", WorkItem)

    def create(self, process_id: str, payload: Any) -> WorkItem:
        """Create an input work item for a process (state ``new``) and return it.

        Args:
            process_id: the process the item is an input for.
            payload: any JSON value.

        Raises:
            BadRequest: the payload was rejected.
            Conflict: the item cannot be created now.
            PermissionDenied: the key lacks ``Processes.write_work_items``.
            AmbiguousResult: the request was sent but no answer came.
            ControlRoomError: any other failure.
        """
        body = {"process": {"id": require_id(process_id)}, "payload": payload}
        return self._call("POST", "/work-items", WorkItem, json=body)

    def update_payload(self, work_item_id: str, payload: Any) -> Any:
        """Replace the payload of a work item; return the payload Control Room stored.

        Raises:
            NotFound: no such item.
            PermissionDenied: the key lacks ``Processes.write_work_items``.
            AmbiguousResult: the request was sent but no answer came.
            ControlRoomError: any other failure.
        """
        path = f"/work-items/{seg(work_item_id)}/payload"
        return self._call(
            "PUT", path, _PayloadEnvelope, json={"payload": payload}
        ).payload

    def upload_file(
        self,
        work_item_id: str,
        *,
        file_name: str,
        data: bytes | BinaryIO,
        file_size: int | None = None,
    ) -> None:
        """Attach a file to a work item: register it, then stream the bytes to the returned URL.

        The second request goes to the absolute URL Control Room returns, as
        ``multipart/form-data`` with its ``form_data`` fields first and the bytes in part
        ``file``, and without the API key (API.md §2.2, §4.2). The body is streamed in
        64 KiB chunks with its ``Content-Length`` computed up front, so a file object
        (e.g. Django's ``TemporaryUploadedFile``) is never read into memory. Like every
        POST, the upload is not re-sent after a lost answer or a 5xx; after a 429 or a
        failed connect it is re-sent only if ``data`` can seek back.

        Args:
            file_name: name the file gets on the item.
            data: the bytes, or a binary file object read from its current position
                (left open; its position afterwards is unspecified).
            file_size: size to register; defaults to the bytes left in ``data``.
                Required when ``data`` cannot seek.

        Raises:
            ValueError: empty file name; a ``file_size`` that does not match the data
                (or is missing for a stream that cannot seek); a non-seekable stream
                that ends early or runs past ``file_size`` while uploading.
            TypeError: ``data`` is neither bytes nor a binary file object.
            NotFound: no such item.
            PermissionDenied: the key lacks ``Processes.write_work_items``.
            AmbiguousResult: a request was sent but no answer came.
            ControlRoomError: any other failure of either request.
        """
        if not file_name:
            raise ValueError("file_name must not be empty")
        source = FileSource(data, file_size)  # checked before anything is sent
        target = self._call(
            "POST",
            f"/work-items/{seg(work_item_id)}/files/upload",
            UploadTarget,
            json={"file_name": file_name, "file_size": source.size},
        )
        body = MultipartStream(
            target.form_data, file_field="file", file_name=file_name, source=source
        )
        self._transport.request(
            "POST",
            self._transport.resolve(target.url, relative_to=self._transport.base_url),
            upload=body,
            authenticated=False,
        ).close()

    def batch(self, operation: BatchOperation, ids: Sequence[str]) -> bool:
        """Run a batch operation on failed work items; return whether Control Room accepted it.

        The operation is applied asynchronously and only to items it fits (API.md §3.6);
        re-read the items to see the result. Never re-sent after a 5xx or a lost answer.

        Args:
            operation: ``"retry"``, ``"mark_as_done"`` or ``"delete"``.
            ids: the work item ids (at least one).

        Raises:
            ValueError: unknown operation, or no ids.
            BadRequest: the body was rejected.
            PermissionDenied: the key lacks ``Processes.write_work_items``.
            AmbiguousResult: the request was sent but no answer came.
            ControlRoomError: any other failure.
        """
        if operation not in BATCH_OPERATIONS:
            raise ValueError(f"operation must be one of {', '.join(BATCH_OPERATIONS)}")
        if isinstance(ids, str):
            raise TypeError("ids must be a sequence of ids, not a string")
        id_list = [require_id(work_item_id) for work_item_id in ids]
        if not id_list:
            raise ValueError("ids must not be empty")
        body = {"batch_operation": operation, "work_item_ids": id_list}
        return self._call("POST", "/work-items/batch", _Accepted, json=body).accepted

    def retry(self, ids: Sequence[str]) -> bool:
        """Retry failed work items (see ``batch``)."""
        return self.batch("retry", ids)

    def mark_as_done(self, ids: Sequence[str]) -> bool:
        """Mark failed work items as done (see ``batch``)."""
        return self.batch("mark_as_done", ids)

    def delete(self, ids: Sequence[str]) -> bool:
        """Delete work items (see ``batch``)."""
        return self.batch("delete", ids)
