"""Asset storage: list, create, details, content upload and download, delete (API.md §3.1, §4.2).

An asset id may also be given as ``name:<asset name>``. Content under ``INLINE_LIMIT`` bytes is
sent inline (base64, as robocorp-storage does) and is completed at once; larger content gets an
``upload_url`` for a raw PUT, then the upload is polled until completed or failed.
"""

from __future__ import annotations

import base64
import builtins
import time

from robocorp_api.errors import ControlRoomError, InvalidResponse
from robocorp_api.models import Asset, AssetDetails, AssetUpload
from robocorp_api.resources._base import Resource, seg

INLINE_LIMIT = 5 * 1024 * 1024
POLL_ATTEMPTS = 20
POLL_INTERVAL = 0.25


class AssetUploadFailed(ControlRoomError):
    """Control Room marked the upload failed; ``.message`` carries its reason."""


class AssetsResource(Resource):
    def list(self) -> builtins.list[Asset]:
        """Return every asset (id and name).

        Raises:
            PermissionDenied: the key lacks ``Assets.read_asset_storage_assets``.
            ControlRoomError: any other failure.
        """
        return builtins.list(self._list("/assets", Asset))

    def create(self, name: str) -> AssetDetails:
        """Create an empty asset.

        Raises:
            BadRequest: an empty or taken name.
            PermissionDenied: the key lacks ``Assets.write_asset_storage_assets``.
            ControlRoomError: any other failure.
        """
        return self._call("POST", "/assets", AssetDetails, json={"name": name})

    def get(self, asset_id: str) -> AssetDetails:
        """Return an asset with its payload reference (``empty``, ``url`` or ``data``).

        Raises:
            NotFound: no such asset.
            PermissionDenied: the key lacks ``Assets.read_asset_storage_assets``.
            ControlRoomError: any other failure.
        """
        return self._call("GET", f"/assets/{seg(asset_id)}", AssetDetails)

    def delete(self, asset_id: str) -> None:
        """Delete an asset.

        Raises:
            NotFound: no such asset.
            PermissionDenied: the key lacks ``Assets.write_asset_storage_assets``.
            AmbiguousResult: the request was sent but no answer came.
            ControlRoomError: any other failure.
        """
        self._send("DELETE", f"/assets/{seg(asset_id)}")

    def upload_status(self, asset_id: str, upload_id: str) -> AssetUpload:
        """Return an upload's status (``pending``, ``completed``, ``failed`` with ``reason``).

        Raises:
            NotFound: no such asset or upload.
            PermissionDenied: the key lacks ``Assets.write_asset_storage_assets``.
            ControlRoomError: any other failure.
        """
        return self._call(
            "GET", f"/assets/{seg(asset_id)}/uploads/{seg(upload_id)}", AssetUpload
        )

    def set_content(self, asset_id: str, data: bytes, content_type: str) -> AssetUpload:
        """Replace an asset's content and return the completed upload.

        Raises:
            BadRequest: Control Room refused the content (e.g. invalid JSON inline).
            AssetUploadFailed: the upload ended ``failed`` (its reason in the message).
            InvalidResponse: a pending upload without ``upload_url``, or one still pending
                after polling.
            NotFound: no such asset.
            PermissionDenied: the key lacks ``Assets.write_asset_storage_assets``.
            ControlRoomError: any other failure.
        """
        path = f"/assets/{seg(asset_id)}/uploads"
        body: dict[str, str] = {"content_type": content_type}
        if len(data) < INLINE_LIMIT:
            body["data"] = base64.b64encode(data).decode()
        upload = self._call("POST", path, AssetUpload, json=body)
        if upload.status == "pending":
            if not upload.upload_url:
                raise InvalidResponse(
                    "pending asset upload without upload_url", method="POST", path=path
                )
            self._transport.request(
                "PUT",
                upload.upload_url,
                content=(data, content_type),
                authenticated=False,
            ).close()
            upload = self._wait(asset_id, upload)
        if upload.status == "failed":
            raise AssetUploadFailed(
                f"asset upload failed: {upload.reason or 'no reason given'}",
                method="POST",
                path=path,
            )
        return upload

    def _wait(self, asset_id: str, upload: AssetUpload) -> AssetUpload:
        for _ in range(POLL_ATTEMPTS):
            upload = self.upload_status(asset_id, upload.id)
            if upload.status != "pending":
                return upload
            time.sleep(POLL_INTERVAL)
        raise InvalidResponse(
            "asset upload still pending after polling",
            method="GET",
            path=f"{self._prefix}/assets/{seg(asset_id)}/uploads/{seg(upload.id)}",
        )

    def content(self, asset_id: str) -> tuple[bytes, str | None]:
        """Return an asset's content and content type; ``(b"", None)`` for an empty asset.

        Raises:
            NotFound: no such asset.
            PermissionDenied: the key lacks ``Assets.read_asset_storage_assets``.
            ControlRoomError: any other failure of either request.
        """
        details = self.get(asset_id)
        payload = details.payload
        if payload.type == "data" and payload.data is not None:
            return _inline(payload.data), payload.content_type
        if payload.type == "url" and payload.url:
            response = self._transport.request("GET", payload.url, authenticated=False)
            return response.content, payload.content_type
        return b"", None


def _inline(data: str) -> bytes:
    """Inline asset data: base64 (robocorp-storage's encoding), else the text itself."""
    try:
        return base64.b64decode(data, validate=True)
    except ValueError:
        return data.encode()
