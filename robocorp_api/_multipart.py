"""A streamed ``multipart/form-data`` body: form fields, then one file part read in chunks.

``requests`` builds multipart bodies in memory; for uploads of tens of megabytes this one is
read by urllib3 a block at a time instead. Its length is known up front (so the request
carries ``Content-Length``, which presigned POST targets require, not chunked encoding),
and it can be rewound for the retries the transport allows (429, failed connect).
"""

from __future__ import annotations

import io
import os
import secrets
from collections.abc import Mapping
from typing import BinaryIO

from urllib3.fields import format_multipart_header_param

CHUNK_SIZE = 64 * 1024


class FileSource:
    """The bytes of the file part: a binary stream, where it starts and how many bytes to send."""

    def __init__(
        self, data: bytes | bytearray | BinaryIO, file_size: int | None = None
    ) -> None:
        """Args:
            data: the bytes, or a binary file object read from its current position.
            file_size: the number of bytes to send; required when ``data`` cannot seek.

        Raises:
            TypeError: ``data`` is a text stream or not bytes / a file object.
            ValueError: ``file_size`` does not match the data, or is missing for a
                stream that cannot seek.
        """
        self.stream = _as_binary_stream(data)
        self.start = _start_position(self.stream)
        self.size = _checked_size(self.stream, self.start, file_size)


class MultipartStream:
    """File-like ``multipart/form-data`` body (``read``/``len``) for ``requests``.

    The layout matches what ``requests`` sends for ``data=fields, files={name: (filename, bytes)}``:
    one part per field in order, then the file part without a Content-Type.
    """

    def __init__(
        self,
        fields: Mapping[str, str],
        *,
        file_field: str,
        file_name: str,
        source: FileSource,
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        self.chunk_size = chunk_size
        self._file = source.stream
        self._start = source.start
        self.file_size = source.size
        self.boundary = secrets.token_hex(16)
        self.content_type = f"multipart/form-data; boundary={self.boundary}"
        self._head = self._encode_head(fields, file_field, file_name)
        self._tail = f"\r\n--{self.boundary}--\r\n".encode("latin-1")
        self._length = len(self._head) + self.file_size + len(self._tail)
        self._pos = 0  # bytes of the whole body handed out so far

    def _encode_head(
        self, fields: Mapping[str, str], file_field: str, file_name: str
    ) -> bytes:
        out = io.BytesIO()
        for name, value in fields.items():
            out.write(self._part_header(name))
            out.write(str(value).encode("utf-8"))
            out.write(b"\r\n")
        out.write(self._part_header(file_field, file_name))
        return out.getvalue()

    def _part_header(self, name: str, file_name: str | None = None) -> bytes:
        disposition = f"form-data; {format_multipart_header_param('name', name)}"
        if file_name is not None:
            disposition += f"; {format_multipart_header_param('filename', file_name)}"
        return (
            f"--{self.boundary}\r\nContent-Disposition: {disposition}\r\n\r\n"
        ).encode()

    def __len__(self) -> int:
        return self._length

    @property
    def rewindable(self) -> bool:
        """Whether the body can be sent again (nothing read yet, or the file can seek)."""
        return self._pos == 0 or self._start is not None

    def rewind(self) -> None:
        """Start the body over, for a re-send.

        Raises:
            ValueError: the file cannot seek and part of it was already sent.
        """
        if self._pos == 0:
            return
        if self._start is None:
            raise ValueError("the upload stream cannot seek; it cannot be re-sent")
        self._file.seek(self._start)
        self._pos = 0

    def read(self, size: int | None = -1) -> bytes:
        """Return the next ``size`` bytes of the body (all the rest when ``size`` < 0).

        The file is read ``chunk_size`` bytes at a time.

        Raises:
            ValueError: the file ended before ``file_size`` bytes or went on past it.
            TypeError: the file returned something other than bytes.
        """
        wanted = self._length - self._pos
        if size is not None and size >= 0:
            wanted = min(wanted, size)
        pieces: list[bytes] = []
        while wanted > 0:
            piece = self._next(wanted)
            self._pos += len(piece)
            wanted -= len(piece)
            pieces.append(piece)
        return b"".join(pieces)

    def _next(self, size: int) -> bytes:
        head_end = len(self._head)
        file_end = head_end + self.file_size
        if self._pos < head_end:
            return self._head[self._pos : self._pos + size]
        if self._pos < file_end:
            piece = self._read_file(min(size, self.chunk_size, file_end - self._pos))
            if self._pos + len(piece) == file_end:
                self._check_exhausted()
            return piece
        start = self._pos - file_end
        return self._tail[start : start + size]

    def _read_file(self, size: int) -> bytes:
        chunk = self._file.read(size)
        if not isinstance(chunk, bytes | bytearray):
            raise TypeError("data must be bytes or a binary file object")
        if not chunk:
            raise ValueError(
                f"the file ended after {self._pos - len(self._head)} of {self.file_size} bytes"
            )
        return bytes(chunk)

    def _check_exhausted(self) -> None:
        if self._start is None and self._file.read(1):
            raise ValueError(f"the file is longer than file_size {self.file_size}")


def _as_binary_stream(data: bytes | bytearray | BinaryIO) -> BinaryIO:
    if isinstance(data, bytes | bytearray):
        return io.BytesIO(data)
    candidate: object = data  # callers outside the type checker pass anything
    if isinstance(candidate, io.TextIOBase) or not callable(
        getattr(candidate, "read", None)
    ):
        raise TypeError("data must be bytes or a binary file object")
    return data


def _start_position(stream: BinaryIO) -> int | None:
    """The current offset of a seekable stream, else None."""
    seekable = getattr(stream, "seekable", None)
    if not callable(seekable) or not seekable():
        return None
    try:
        return int(stream.tell())
    except OSError:
        return None


def _checked_size(stream: BinaryIO, start: int | None, declared: int | None) -> int:
    if declared is not None and declared < 0:
        raise ValueError("file_size must not be negative")
    if start is None:
        if declared is None:
            raise ValueError("file_size is required for a stream that cannot seek")
        return declared
    stream.seek(0, os.SEEK_END)
    available = stream.tell() - start
    stream.seek(start)
    if declared is not None and declared != available:
        raise ValueError(
            f"file_size {declared} does not match the {available} bytes given"
        )
    return available
