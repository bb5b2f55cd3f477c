"""Task packages (a robot's bundle): create, upload, download link, delete (API.md §3.1, §4.2).

The v1 API has no list of task packages and no read of one package: only the id returned
by ``create`` reaches them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

import requests

from robocorp_api._multipart import FileSource, MultipartStream
from robocorp_api.errors import ConnectionFailed
from robocorp_api.models import DownloadLink, TaskPackage, UploadTarget
from robocorp_api.resources._base import Resource, seg


class TaskPackagesResource(Resource):
    def create(self, name: str) -> TaskPackage:
        """Create an (empty) task package.

        Raises:
            BadRequest: an empty name.
            PermissionDenied: the key lacks ``Tasks.write_task_packages``.
            ControlRoomError: any other failure.
        """
        return self._call("POST", "/task-packages", TaskPackage, json={"name": name})

    def upload_target(self, package_id: str) -> UploadTarget:
        """Return where to POST the package's zip: ``{url, form_data}``.

        Raises:
            NotFound: no such package.
            PermissionDenied: the key lacks ``Tasks.write_task_packages``.
            ControlRoomError: any other failure.
        """
        return self._call(
            "GET", f"/task-packages/{seg(package_id)}/upload", UploadTarget
        )

    def upload(
        self, package_id: str, data: bytes | BinaryIO, *, file_size: int | None = None
    ) -> None:
        """Upload the package's zip: get the target, then stream a multipart POST without the key.

        Args:
            data: bytes or a binary file object (streamed, never read into memory).
            file_size: the size when ``data`` cannot seek.

        Raises:
            ValueError / TypeError: as for ``work_items.upload_file``.
            NotFound: no such package.
            PermissionDenied: the key lacks ``Tasks.write_task_packages``.
            AmbiguousResult: a request was sent but no answer came.
            ControlRoomError: any other failure of either request.
        """
        source = FileSource(data, file_size)
        target = self.upload_target(package_id)
        body = MultipartStream(
            target.form_data, file_field="file", file_name="package.zip", source=source
        )
        self._transport.request(
            "POST",
            self._transport.resolve(target.url, relative_to=self._transport.base_url),
            upload=body,
            authenticated=False,
        ).close()

    def download_link(self, package_id: str) -> str:
        """Return the package's (presigned) download URL; fetch it without the API key.

        Raises:
            NotFound: no such package (or nothing uploaded yet).
            PermissionDenied: the key lacks ``Tasks.read_task_packages``.
            ControlRoomError: any other failure.
        """
        return self._call(
            "GET", f"/task-packages/{seg(package_id)}/download", DownloadLink
        ).url

    def download(self, package_id: str) -> bytes:
        """Return the package's bytes (the link is fetched without the API key).

        Raises:
            NotFound: no such package.
            ControlRoomError: any other failure of either request.
        """
        return b"".join(self.stream(package_id))

    def stream(self, package_id: str, chunk_size: int = 65536) -> Iterator[bytes]:
        """Yield the package's bytes in chunks, never holding the whole bundle in memory.

        Raises:
            NotFound: no such package (raised before the first chunk).
            ControlRoomError: any other failure of either request.
        """
        response = self._transport.request(
            "GET", self.download_link(package_id), authenticated=False, stream=True
        )
        return _chunks(response, chunk_size)

    def delete(self, package_id: str) -> None:
        """Delete a task package.

        Raises:
            NotFound: no such package.
            PermissionDenied: the key lacks ``Tasks.write_task_packages``.
            AmbiguousResult: the request was sent but no answer came.
            ControlRoomError: any other failure.
        """
        self._send("DELETE", f"/task-packages/{seg(package_id)}")


def _chunks(response: requests.Response, chunk_size: int) -> Iterator[bytes]:
    with response:
        try:
            yield from response.iter_content(chunk_size=chunk_size)
        except requests.RequestException as exc:
            # The link is presigned: keep it (and its signature) out of the error.
            raise ConnectionFailed(
                f"task package download interrupted ({type(exc).__name__})",
                method="GET",
                path="<task package download url>",
            ) from None
