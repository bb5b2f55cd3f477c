"""Streamed work item file uploads (API.md §4.2) against the emulator over real HTTP.

The memory test runs the emulator in a subprocess: tracemalloc counts every thread of a
process, and the in-process emulator reads the whole request body into memory.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import subprocess
import sys
import tempfile
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO, cast

import pytest
import requests

from robocorp_api import ControlRoomClient, RateLimited, ServerError
from robocorp_api._multipart import FileSource, MultipartStream
from robocorp_api.emulator import EmulatorServer
from robocorp_api.emulator.routing import Request, Response

pytestmark = pytest.mark.emulator

MiB = 1024 * 1024
UPLOAD_PATH = "/__uploads__/"  # the url the emulator's register answer returns
UPLOAD_ROUTE = "/__uploads__"  # its route template, as the request counters name it


def _client(
    api_key: str, workspace_id: str, base_url: str, **kwargs: Any
) -> ControlRoomClient:
    return ControlRoomClient(
        api_key,
        workspace_id=workspace_id,
        base_url=base_url,
        backoff_base=0.01,
        **kwargs,
    )


@pytest.fixture
def client(emu: EmulatorServer) -> Iterator[ControlRoomClient]:
    with _client(emu.api_key, emu.workspace_id, emu.api_base_url) as c:
        yield c


def _new_item(emu: EmulatorServer, client: ControlRoomClient) -> str:
    process = emu.store.add_process("Uploads", item_seconds=1.0)
    return client.work_items.create(str(process.id), {"n": 1}).id


def _random_file(size: int, *, seed: int = 0) -> tuple[BinaryIO, str]:
    """A temporary file of ``size`` pseudo-random bytes (positioned at 0) and its sha256."""
    rng = random.Random(seed)
    digest = hashlib.sha256()
    handle = cast(BinaryIO, tempfile.TemporaryFile())  # noqa: SIM115 - the caller closes it
    left = size
    while left:
        block = rng.randbytes(min(MiB, left))
        digest.update(block)
        handle.write(block)
        left -= len(block)
    handle.seek(0)
    return handle, digest.hexdigest()


def _spy_uploads(
    emu: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> list[dict[str, str]]:
    """Record the headers of every request the emulator's upload target handles."""
    seen: list[dict[str, str]] = []
    handle: Callable[[Request], Response] = emu.app.handle

    def spy(req: Request) -> Response:
        if req.path == UPLOAD_PATH:
            seen.append({k.lower(): v for k, v in req.headers.items()})
        return handle(req)

    monkeypatch.setattr(emu.app, "handle", spy)
    return seen


class _Unseekable(io.RawIOBase):
    """A pipe-like binary stream: read() only."""

    def __init__(self, data: bytes) -> None:
        self._inner = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self._inner.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def _pipe(data: bytes) -> BinaryIO:
    return cast(BinaryIO, _Unseekable(data))


class TestStreamedUpload:
    def test_a_20_mib_file_arrives_intact_streamed_without_authorization(
        self, emu: EmulatorServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        seen = _spy_uploads(emu, monkeypatch)
        session = requests.Session()
        session.headers["Authorization"] = "should-not-leak"
        size = 20 * MiB
        handle, sha = _random_file(size)
        with (
            handle,
            _client(
                emu.api_key, emu.workspace_id, emu.api_base_url, session=session
            ) as client,
        ):
            item_id = _new_item(emu, client)
            client.work_items.upload_file(item_id, file_name="scan.bin", data=handle)
            files = client.work_items.get(item_id).files

        assert [(f.name, f.size) for f in files] == [("scan.bin", size)]
        name, stored = emu.store.blobs[files[0].id]
        assert name == "scan.bin"
        assert len(stored) == size and hashlib.sha256(stored).hexdigest() == sha
        [headers] = seen
        assert "authorization" not in headers
        assert "transfer-encoding" not in headers
        assert headers["content-type"].startswith("multipart/form-data; boundary=")
        assert size < int(headers["content-length"]) < size + 2048

    def test_peak_memory_stays_far_below_the_file_size(self) -> None:
        # A real process of its own, so only the client's allocations are traced.
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "robocorp_api.emulator",
                "--port",
                "0",
                "--seed",
                "demo",
                "--paused",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            info = _cli_info(proc)
            size = 20 * MiB
            handle, sha = _random_file(size, seed=1)
            with (
                handle,
                _client(
                    info["api_key"], info["workspace_id"], info["api_base_url"]
                ) as client,
            ):
                process_id = client.processes.list()[0].id
                item_id = client.work_items.create(process_id, None).id
                tracemalloc.start()
                try:
                    client.work_items.upload_file(
                        item_id, file_name="big.bin", data=handle, file_size=size
                    )
                    peak = tracemalloc.get_traced_memory()[1]
                finally:
                    tracemalloc.stop()
                [uploaded] = client.work_items.get(item_id).files
            assert uploaded.size == size
            assert peak < 5 * MiB, f"peak traced memory {peak / MiB:.1f} MiB"
            assert _download_sha(f"{info['url']}/__blobs__/files/{uploaded.id}") == (
                size,
                sha,
            )
        finally:
            proc.terminate()
            proc.wait(timeout=10)

    def test_a_429_on_the_upload_resends_the_whole_file(
        self, emu: EmulatorServer, client: ControlRoomClient
    ) -> None:
        item_id = _new_item(emu, client)
        data = random.Random(2).randbytes(300 * 1024)
        emu.faults.add(kind="error", path=UPLOAD_PATH, status=429, times=1)
        client.work_items.upload_file(item_id, file_name="a.bin", data=io.BytesIO(data))
        [stored] = client.work_items.get(item_id).files
        assert emu.store.blobs[stored.id] == ("a.bin", data)
        assert emu.stats.count("POST", UPLOAD_ROUTE) == 2

    def test_a_5xx_on_the_upload_is_not_resent(
        self, emu: EmulatorServer, client: ControlRoomClient
    ) -> None:
        item_id = _new_item(emu, client)
        emu.faults.add(kind="error", path=UPLOAD_PATH, status=503, times=1)
        with pytest.raises(ServerError):
            client.work_items.upload_file(item_id, file_name="a.bin", data=b"abc")
        assert emu.stats.count("POST", UPLOAD_ROUTE) == 1
        assert client.work_items.get(item_id).files == []

    def test_an_unseekable_stream_needs_its_size_and_is_not_resent(
        self, emu: EmulatorServer, client: ControlRoomClient
    ) -> None:
        item_id = _new_item(emu, client)
        data = b"0123456789" * 10_000
        with pytest.raises(ValueError, match="file_size is required"):
            client.work_items.upload_file(item_id, file_name="p.bin", data=_pipe(data))
        assert client.requests_made == 1  # only the create; nothing registered

        emu.faults.add(kind="error", path=UPLOAD_PATH, status=429, times=1)
        with pytest.raises(RateLimited):
            client.work_items.upload_file(
                item_id, file_name="p.bin", data=_pipe(data), file_size=len(data)
            )
        assert emu.stats.count("POST", UPLOAD_ROUTE) == 1

        client.work_items.upload_file(
            item_id, file_name="p.bin", data=_pipe(data), file_size=len(data)
        )
        [stored] = client.work_items.get(item_id).files
        assert emu.store.blobs[stored.id] == ("p.bin", data)

    def test_an_unseekable_stream_shorter_than_file_size_fails_clearly(
        self, emu: EmulatorServer, client: ControlRoomClient
    ) -> None:
        item_id = _new_item(emu, client)
        with pytest.raises(ValueError, match="ended after 5 of 9 bytes"):
            client.work_items.upload_file(
                item_id, file_name="p.bin", data=_pipe(b"12345"), file_size=9
            )
        with pytest.raises(ValueError, match="longer than file_size 3"):
            client.work_items.upload_file(
                item_id, file_name="p.bin", data=_pipe(b"12345"), file_size=3
            )
        assert client.work_items.get(item_id).files == []

    def test_the_upload_starts_at_the_current_position(
        self, emu: EmulatorServer, client: ControlRoomClient
    ) -> None:
        item_id = _new_item(emu, client)
        stream = io.BytesIO(b"headerPAYLOAD")
        stream.seek(6)
        client.work_items.upload_file(item_id, file_name="p.txt", data=stream)
        [stored] = client.work_items.get(item_id).files
        assert (stored.size, emu.store.blobs[stored.id][1]) == (7, b"PAYLOAD")

    def test_a_text_stream_is_refused_before_anything_is_sent(
        self, client: ControlRoomClient
    ) -> None:
        with pytest.raises(TypeError, match="binary file object"):
            client.work_items.upload_file(
                "w1",
                file_name="a.txt",
                data=io.StringIO("text"),  # type: ignore[arg-type]
            )
        assert client.requests_made == 0


class TestMultipartStream:
    @pytest.mark.parametrize(
        "file_name", ["a.txt", 'we"ird\\na\r\nme.pdf', "lasku ääkköset €.pdf"]
    )
    def test_the_body_is_byte_for_byte_what_requests_would_send(
        self, file_name: str
    ) -> None:
        fields = {"key": "uploads/x", "policy": "p==", "x-amz-signature": "ü"}
        data = bytes(range(256)) * 1000
        body = MultipartStream(
            fields,
            file_field="file",
            file_name=file_name,
            source=FileSource(data),
            chunk_size=1000,
        )
        reference = (
            requests.Request(
                "POST",
                "http://h/",
                data=fields,
                files={"file": (file_name, data)},
            )
            .prepare()
            .body
        )
        assert isinstance(reference, bytes)
        boundary = reference[2 : reference.index(b"\r\n")]
        expected = reference.replace(boundary, body.boundary.encode())

        pieces = []
        while piece := body.read(4096):
            assert len(piece) <= 4096
            pieces.append(piece)
        assert b"".join(pieces) == expected
        assert len(body) == len(expected)

        body.rewind()
        assert body.read() == expected

    def test_file_size_must_match_the_bytes_left(self) -> None:
        with pytest.raises(ValueError, match="file_size 4 does not match the 3"):
            FileSource(b"abc", 4)
        with pytest.raises(ValueError, match="negative"):
            FileSource(_pipe(b""), -1)


def _cli_info(proc: subprocess.Popen[str]) -> dict[str, str]:
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("{"):
            info: dict[str, str] = json.loads(line)
            return info
    pytest.fail("the emulator subprocess exited before printing its JSON line")


def _download_sha(url: str) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with requests.get(url, stream=True, timeout=30) as answer:
        answer.raise_for_status()
        for chunk in answer.iter_content(MiB):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()
