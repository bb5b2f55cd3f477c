"""Upload size limit enforced while the request body streams in, and filename hygiene.

Django has no per-file size cap (FILE_UPLOAD_MAX_MEMORY_SIZE only chooses memory vs a
temporary file), so this handler stops storing a file as soon as it passes the limit.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload

_UNSAFE = re.compile(r"[^\w.\- ()+,@]+", re.UNICODE)


def max_upload_bytes() -> int:
    return settings.WORKROOM_MAX_UPLOAD_MB * 1024 * 1024


class SizeLimitUploadHandler(FileUploadHandler):
    """Counts file bytes as they arrive; past the limit it stops the upload (the rest of
    the body is read and discarded, so the browser still gets the page with the error)."""

    def __init__(self, request: Any = None, limit: int | None = None) -> None:
        super().__init__(request)
        self.limit = limit if limit is not None else max_upload_bytes()
        self.received = 0
        self.exceeded = False

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        self.received += len(raw_data)
        if self.received > self.limit:
            self.exceeded = True
            raise StopUpload(connection_reset=False)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None


def clean_filename(name: str) -> str:
    """Return a safe file name: no directories, no control or odd characters, ≤ 200 chars."""
    base = PureWindowsPath(PurePosixPath(name or "").name).name
    base = unicodedata.normalize("NFC", base)
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C")
    base = _UNSAFE.sub("_", base).strip(" .")
    if len(base) > 200:
        stem, dot, ext = base.rpartition(".")
        base = (
            (stem[: 200 - len(ext) - 1] + "." + ext)
            if dot and len(ext) <= 16
            else base[:200]
        )
    return base or "upload.bin"
