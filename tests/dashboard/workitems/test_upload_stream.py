"""A browser upload bigger than FILE_UPLOAD_MAX_MEMORY_SIZE reaches Control Room streamed:
Django's TemporaryUploadedFile goes straight to the client, which reads it in small chunks."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile, TemporaryUploadedFile
from django.urls import reverse

from dashboard.mirror.models import WorkItem
from dashboard.workspaces.models import Workspace
from dashboard.workspaces.services import build_client
from robocorp_api._multipart import CHUNK_SIZE
from robocorp_api.emulator import EmulatorServer

pytestmark = [pytest.mark.django_db, pytest.mark.emulator]


def test_a_large_upload_is_streamed_from_the_temporary_file(
    client_for: Any,
    bob: Any,
    emu_ws: Workspace,
    emu: EmulatorServer,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    size = settings.FILE_UPLOAD_MAX_MEMORY_SIZE + 1024 * 1024  # → a temporary file
    data = random.Random(5).randbytes(size)
    reads: list[int | None] = []

    def recording_read(self: TemporaryUploadedFile) -> Callable[..., bytes]:
        def read(n: int | None = -1) -> bytes:
            reads.append(n)
            assert self.file is not None and n is not None
            chunk: bytes = self.file.read(n)
            return chunk

        return read

    monkeypatch.setattr(TemporaryUploadedFile, "read", property(recording_read))
    item = WorkItem.objects.filter(workspace=emu_ws, state="failed").order_by("id")[0]

    html = (
        client_for(bob)
        .post(
            reverse("workitems-item-upload", args=[item.pk]),
            {"file": SimpleUploadedFile("scan.bin", data)},
            HTTP_HX_REQUEST="true",
        )
        .content.decode()
    )

    assert "Uploaded scan.bin." in html
    assert reads and all(n is not None and 0 < n <= CHUNK_SIZE for n in reads)
    with build_client(emu_ws) as client:
        [uploaded] = client.work_items.get(item.external_id).files
    assert uploaded.size == size
    name, stored = emu.store.blobs[uploaded.id]
    assert name == "scan.bin"
    assert hashlib.sha256(stored).digest() == hashlib.sha256(data).digest()
