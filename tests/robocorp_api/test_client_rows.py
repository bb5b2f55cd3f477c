"""Lean work-item list rows (`work_items.list_rows`, msgspec): the same data as the pydantic
models of `work_items.list`, the same leniency, and the same errors for a bad page."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
import responses

from robocorp_api import ControlRoomClient, InvalidResponse
from robocorp_api.emulator import EmulatorServer

from .test_client_transport import W, make_client, page


@pytest.fixture
def client(emu: EmulatorServer) -> Iterator[ControlRoomClient]:
    with ControlRoomClient(
        emu.api_key, workspace_id=emu.workspace_id, base_url=emu.api_base_url
    ) as c:
        yield c


@pytest.mark.emulator
def test_rows_carry_what_the_models_carry(
    emu: EmulatorServer, client: ControlRoomClient
) -> None:
    store = emu.store
    process = store.add_process(f"Rows {uuid.uuid4().hex[:8]}")
    with store.lock:
        for n in range(25):
            store.create_input_item(process, {"n": n})
    models = list(client.work_items.list(process_id=process.id, limit=7))
    rows = list(client.work_items.list_rows(process_id=process.id, limit=7))
    assert len(rows) == len(models) == 25
    fields = ("id", "state", "created_at", "state_updated_at")
    for model, row in zip(models, rows, strict=True):
        assert [getattr(row, f) for f in fields] == [getattr(model, f) for f in fields]
        assert row.process.id == model.process.id
        assert (row.exception is None) == (model.exception is None)
        assert row.created_at.tzinfo is not None


@pytest.mark.emulator
def test_failed_rows_carry_the_exception(
    emulator_factory: Callable[..., EmulatorServer],
) -> None:
    emu = emulator_factory(seed="large:3000")
    with ControlRoomClient(
        emu.api_key, workspace_id=emu.workspace_id, base_url=emu.api_base_url
    ) as client:
        models = {i.id: i for i in client.work_items.list(state="failed")}
        rows = list(client.work_items.list_rows(state="failed"))
    assert rows, "the large seed has failed items"
    for row in rows:
        model = models[row.id]
        assert model.exception is not None and row.exception is not None
        assert (row.exception.type, row.exception.code, row.exception.message) == (
            model.exception.type,
            model.exception.code,
            model.exception.message,
        )
        assert row.step_run is not None and model.step_run is not None
        assert row.step_run.id == model.step_run.id


def _row(**extra: object) -> dict[str, object]:
    return {
        "id": "wi-1",
        "created_at": "2026-11-29T19:07:54.542Z",
        "state": "done",
        "process": {"id": "p-1"},
        **extra,
    }


@responses.activate
def test_a_timestamp_without_offset_is_utc_and_unknown_fields_are_ignored() -> None:
    responses.get(
        f"{W}/work-items",
        json=page(
            [
                _row(
                    created_at="2026-11-29T19:07:54",
                    state_updated_at=None,
                    new_field=[1],
                )
            ]
        ),
    )
    (row,) = make_client().work_items.list_rows()
    assert row.created_at == datetime(2026, 11, 29, 19, 7, 54, tzinfo=UTC)
    assert row.state_updated_at is None and row.process_run is None


@responses.activate
def test_a_row_not_matching_the_schema_is_invalid_response() -> None:
    responses.get(f"{W}/work-items", json=page([{"id": "w1"}]))
    client = make_client()
    with pytest.raises(InvalidResponse, match="does not match the schema") as info:
        list(client.work_items.list_rows())
    assert info.value.transient
    assert info.value.status == 200


@responses.activate
def test_a_body_that_is_not_json_is_invalid_response() -> None:
    responses.get(f"{W}/work-items", body=b"{not json", content_type="application/json")
    with pytest.raises(InvalidResponse, match="not valid JSON"):
        list(make_client().work_items.list_rows())


@responses.activate
def test_rows_follow_next_and_stop_at_a_loop() -> None:
    nxt = f"{W}/work-items?cursor=A"
    responses.get(f"{W}/work-items", json=page([_row()], next_url=nxt))
    responses.get(f"{W}/work-items", json=page([_row(id="wi-2")], next_url=nxt))
    client = make_client()
    with pytest.raises(InvalidResponse, match="pagination loop"):
        list(client.work_items.list_rows())
    assert client.requests_made == 2
