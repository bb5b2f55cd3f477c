"""Lazy pagination over the emulator (API.md §3.5): ``next`` followed verbatim, no duplicates or gaps,
one request per page."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator

import pytest

from robocorp_api import ControlRoomClient, Page, WorkItem
from robocorp_api.emulator import EmulatorServer

pytestmark = pytest.mark.emulator

N = 2_500


@pytest.fixture
def seeded(emu: EmulatorServer) -> tuple[EmulatorServer, str, list[str]]:
    store = emu.store
    process = store.add_process(f"Paged {uuid.uuid4().hex[:8]}")
    with store.lock:
        rows = [store.create_input_item(process, {"n": n}) for n in range(N)]
        ids = [store.items.item_id(row) for row in rows]
    return emu, process.id, ids


@pytest.fixture
def client(
    seeded: tuple[EmulatorServer, str, list[str]],
) -> Iterator[ControlRoomClient]:
    emu = seeded[0]
    with ControlRoomClient(
        emu.api_key, workspace_id=emu.workspace_id, base_url=emu.api_base_url
    ) as c:
        yield c


@pytest.mark.parametrize("limit", [100, 7, 1000])
def test_paging_2500_items_has_no_duplicates_or_gaps(
    seeded: tuple[EmulatorServer, str, list[str]], client: ControlRoomClient, limit: int
) -> None:
    _, process_id, ids = seeded
    got = [
        item.id for item in client.work_items.list(process_id=process_id, limit=limit)
    ]
    assert len(got) == N
    assert len(set(got)) == N
    assert set(got) == set(ids)
    assert client.requests_made == math.ceil(N / limit)


def test_pages_expose_the_envelope(
    seeded: tuple[EmulatorServer, str, list[str]], client: ControlRoomClient
) -> None:
    emu, process_id, _ = seeded
    pages = list(client.work_items.list(process_id=process_id, limit=1000).pages())
    assert [len(p.data) for p in pages] == [1000, 1000, 500]
    assert all(isinstance(p, Page) for p in pages)
    assert [p.has_more for p in pages] == [True, True, False]
    assert pages[0].next is not None and pages[0].next.startswith(emu.api_base_url)
    assert pages[-1].next is None
    assert all(isinstance(i, WorkItem) for i in pages[0].data)


def test_iteration_is_lazy(
    seeded: tuple[EmulatorServer, str, list[str]], client: ControlRoomClient
) -> None:
    _, process_id, _ = seeded
    paginator = client.work_items.list(process_id=process_id, limit=100)
    assert client.requests_made == 0
    iterator = iter(paginator)
    for _ in range(150):
        next(iterator)
    assert client.requests_made == 2
    assert paginator.first() is not None
    assert client.requests_made == 3


def test_newest_first_order(
    seeded: tuple[EmulatorServer, str, list[str]], client: ControlRoomClient
) -> None:
    _, process_id, ids = seeded
    got = [item.id for item in client.work_items.list(process_id=process_id, limit=250)]
    assert got == list(reversed(ids))
