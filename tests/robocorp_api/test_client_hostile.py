"""Issue 11: the client reads hostile but valid answers (payloads nested deeper than pydantic's
JSON parser goes) and never lets an id change the path it is sent to."""

from __future__ import annotations

import json

import pytest

from robocorp_api import ControlRoomClient
from robocorp_api.emulator import EmulatorServer
from robocorp_api.errors import NotFound

pytestmark = [pytest.mark.emulator]


def _deep(depth: int) -> object:
    return json.loads("[" * depth + "]" * depth)


@pytest.mark.parametrize("depth", [199, 400, 900])
def test_a_deeply_nested_payload_is_read(emu: EmulatorServer, depth: int) -> None:
    process = emu.store.add_process("Deep", failure_rate=1.0, item_seconds=1.0)
    row = emu.store.create_input_item(process, _deep(depth))
    item_id = emu.store.items.item_id(row)
    with ControlRoomClient(
        emu.api_key,
        workspace_id=emu.workspace_id,
        base_url=emu.api_base_url,
    ) as client:
        item = client.work_items.get(item_id)
        assert item.payload == _deep(depth)


@pytest.mark.parametrize("hostile", ["..", ".", "a/b", "%2E%2E", "?x=1", "#frag"])
def test_no_id_changes_the_path(emu: EmulatorServer, hostile: str) -> None:
    with (
        ControlRoomClient(
            emu.api_key,
            workspace_id=emu.workspace_id,
            base_url=emu.api_base_url,
        ) as client,
        pytest.raises(NotFound),
    ):
        client.process_runs.get(hostile)
