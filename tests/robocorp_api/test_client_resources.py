"""Every client resource method against the emulator over real HTTP (API.md §3.1, §3.3, §3.6, §4.2, §6).

Robots are paused and simulated time is advanced explicitly, so every outcome is deterministic.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from robocorp_api import (
    Artifact,
    BadRequest,
    Callback,
    Conflict,
    ConsoleMessage,
    ControlRoomClient,
    Event,
    NotFound,
    Process,
    ProcessRun,
    StepRun,
    Webhook,
    WorkItem,
)
from robocorp_api.emulator import EmulatorServer
from robocorp_api.emulator.items import DELETED, DONE, FAILED, PENDING

pytestmark = pytest.mark.emulator


@pytest.fixture
def client(emu: EmulatorServer) -> Iterator[ControlRoomClient]:
    with ControlRoomClient(
        emu.api_key,
        workspace_id=emu.workspace_id,
        base_url=emu.api_base_url,
        backoff_base=0.01,
    ) as c:
        yield c


def add_process(emu: EmulatorServer, **kwargs: Any) -> str:
    kwargs.setdefault("item_seconds", 1.0)
    return str(emu.store.add_process(f"Process {uuid.uuid4().hex[:8]}", **kwargs).id)


def item_state(emu: EmulatorServer, item_id: str) -> int:
    items = emu.store.items
    with emu.store.lock:
        row = int(item_id[24:], 16)  # the emulator derives item ids from row numbers
        assert items.item_id(row) == item_id
        return int(items.state[row])


def finished_run(
    emu: EmulatorServer,
    client: ControlRoomClient,
    *,
    failure_rate: float,
    items: int = 3,
) -> str:
    """Start a run through the client and let the robots finish it."""
    process_id = add_process(emu, failure_rate=failure_rate)
    started = client.process_runs.start(
        process_id, payloads=[{"n": n} for n in range(items)]
    )
    assert started.started and started.id
    emu.advance(600)
    return started.id


def test_workspace_get(emu: EmulatorServer, client: ControlRoomClient) -> None:
    workspace = client.workspace.get()
    assert workspace.id == emu.workspace_id
    assert workspace.name
    assert workspace.organization is not None and workspace.organization.id


def test_processes_list(emu: EmulatorServer, client: ControlRoomClient) -> None:
    process_id = add_process(emu)
    processes = client.processes.list()
    assert all(isinstance(p, Process) for p in processes)
    assert process_id in {p.id for p in processes}
    assert all(
        p.created_at is None or p.created_at.tzinfo is not None for p in processes
    )


class TestWorkItems:
    def test_create_get_and_update_payload(
        self, emu: EmulatorServer, client: ControlRoomClient
    ) -> None:
        process_id = add_process(emu)
        created = client.work_items.create(process_id, {"order": 42, "lines": [1, 2]})
        assert isinstance(created, WorkItem)
        assert created.state == "new"
        assert created.process.id == process_id
        assert created.payload == {"order": 42, "lines": [1, 2]}
        assert created.files == []
        assert created.created_at.tzinfo is not None

        assert client.work_items.update_payload(created.id, ["replaced", None]) == [
            "replaced",
            None,
        ]
        assert client.work_items.get(created.id).payload == ["replaced", None]

    def test_list_filters_by_process_run_and_state(
        self, emu: EmulatorServer, client: ControlRoomClient
    ) -> None:
        run_id = finished_run(emu, client, failure_rate=1.0, items=4)
        other = add_process(emu)
        waiting = client.work_items.create(other, {"x": 1})

        in_run = list(client.work_items.list(process_run_id=run_id, limit=3))
        assert len(in_run) == 4
        assert {i.state for i in in_run} == {"failed"}
        assert all(
            i.exception is not None and i.exception.type and i.exception.code
            for i in in_run
        )
        assert all(
            i.process_run is not None and i.process_run.id == run_id for i in in_run
        )

        assert [i.id for i in client.work_items.list(process_id=other)] == [waiting.id]
        assert [
            i.id for i in client.work_items.list(process_id=other, state="failed")
        ] == []
        assert [
            i.id for i in client.work_items.list(process_id=other, state="new")
        ] == [waiting.id]

    def test_upload_file_end_to_end(
        self, emu: EmulatorServer, client: ControlRoomClient
    ) -> None:
        item = client.work_items.create(add_process(emu), {"invoice": 7})
        pdf = b"%PDF-1.4\n" + bytes(range(256)) * 40
        client.work_items.upload_file(item.id, file_name="invoice 7.pdf", data=pdf)
        client.work_items.upload_file(
            item.id, file_name="notes.txt", data=io.BytesIO(b"hello")
        )

        files = client.work_items.get(item.id).files
        assert [(f.name, f.size) for f in files] == [
            ("invoice 7.pdf", len(pdf)),
            ("notes.txt", 5),
        ]
        assert emu.store.blobs[files[0].id] == ("invoice 7.pdf", pdf)
        assert emu.store.blobs[files[1].id] == ("notes.txt", b"hello")
        # register + upload per file, then the get
        assert client.requests_made == 1 + 2 + 2 + 1

    def test_upload_file_size_mismatch_is_refused_locally(
        self, emu: EmulatorServer, client: ControlRoomClient
    ) -> None:
        item = client.work_items.create(add_process(emu), None)
        with pytest.raises(ValueError, match="file_size"):
            client.work_items.upload_file(
                item.id, file_name="a.bin", data=b"abc", file_size=4
            )

    def test_batch_retry_mark_as_done_and_delete(
        self, emu: EmulatorServer, client: ControlRoomClient
    ) -> None:
        run_id = finished_run(emu, client, failure_rate=1.0, items=6)
        ids = [i.id for i in client.work_items.list(process_run_id=run_id)]
        assert {item_state(emu, i) for i in ids} == {FAILED}

        assert client.work_items.retry(ids[:2]) is True
        assert client.work_items.mark_as_done(ids[2:4]) is True
        assert client.work_items.delete(ids[4:5]) is True
        assert (
            client.work_items.batch("retry", ids[2:3]) is True
        )  # done items are ignored

        assert [item_state(emu, i) for i in ids] == [
            PENDING,
            PENDING,
            DONE,
            DONE,
            DELETED,
            FAILED,
        ]
        assert (
            client.process_runs.get(run_id).state == "in_progress"
        )  # retried items are re-processed

    def test_get_unknown_item_is_not_found(self, client: ControlRoomClient) -> None:
        with pytest.raises(NotFound) as info:
            client.work_items.get("no-such-item")
        assert info.value.status == 404
        assert info.value.code
        assert info.value.path is not None and info.value.path.endswith(
            "/work-items/no-such-item"
        )


class TestProcessRuns:
    def test_start_without_items_creates_one_empty_item(
        self, emu: EmulatorServer, client: ControlRoomClient
    ) -> None:
        process_id = add_process(emu)
        started = client.process_runs.start(process_id)
        assert started.started and started.id
        items = list(client.work_items.list(process_run_id=started.id))
        assert len(items) == 1
        assert client.work_items.get(items[0].id).payload is None

    def test_start_with_payloads_makes_one_run_with_an_item_each(
        self, emu: EmulatorServer, client: ControlRoomClient
    ) -> None:
        started = client.process_runs.start(
            add_process(emu), payloads=[{"a": 1}, {"b": 2}, [3]]
        )
        assert started.id
        payloads = [
            client.work_items.get(i.id).payload
            for i in client.work_items.list(process_run_id=started.id)
        ]
        assert sorted(map(str, payloads)) == sorted(map(str, [{"a": 1}, {"b": 2}, [3]]))

    def test_start_with_work_item_ids(
        self, emu: EmulatorServer, client: ControlRoomClient
    ) -> None:
        process_id = add_process(emu)
        ids = [client.work_items.create(process_id, {"n": n}).id for n in range(2)]
        started = client.process_runs.start(process_id, work_item_ids=ids)
        assert started.id
        assert sorted(
            i.id for i in client.work_items.list(process_run_id=started.id)
        ) == sorted(ids)
        with pytest.raises(Conflict):
            client.process_runs.start(process_id, work_item_ids=ids)  # already consumed

    def test_start_with_inputs(
        self, emu: EmulatorServer, client: ControlRoomClient
    ) -> None:
        process_id = add_process(emu)
        assert client.process_runs.start(process_id, with_inputs=True).started is False
        queued = client.work_items.create(process_id, {"queued": True})
        started = client.process_runs.start(process_id, with_inputs=True)
        assert started.started and started.id
        assert [i.id for i in client.work_items.list(process_run_id=started.id)] == [
            queued.id
        ]

    def test_start_with_a_callback(
        self, emu: EmulatorServer, client: ControlRoomClient
    ) -> None:
        callback = Callback(
            url="http://127.0.0.1:9/hook",
            secret="s3cret",
            callback_events=["completed"],
        )
        started = client.process_runs.start(
            add_process(emu), payloads=[{}], callback=callback
        )
        assert started.id
        run = emu.store.get_run(started.id)
        assert (
            run.callback is not None
            and run.callback["url"] == "http://127.0.0.1:9/hook"
        )
        assert run.callback["secret"] == "s3cret"

    def test_start_errors(self, emu: EmulatorServer, client: ControlRoomClient) -> None:
        with pytest.raises(NotFound):
            client.process_runs.start("no-such-process")
        with pytest.raises(BadRequest):
            client.process_runs.start(add_process(emu), work_item_ids=["not-an-item"])

    def test_get_list_and_filters(
        self, emu: EmulatorServer, client: ControlRoomClient
    ) -> None:
        run_id = finished_run(emu, client, failure_rate=1.0, items=2)
        run = client.process_runs.get(run_id)
        assert isinstance(run, ProcessRun)
        assert run.state == "unresolved"
        assert run.started_by is not None and run.started_by.type == "api"
        assert run.ended_at is not None and run.duration is not None
        process_id = run.process.id

        assert [r.id for r in client.process_runs.list(process_id=process_id)] == [
            run_id
        ]
        assert [
            r.id
            for r in client.process_runs.list(process_id=process_id, state="unresolved")
        ] == [run_id]
        assert (
            list(client.process_runs.list(process_id=process_id, state="completed"))
            == []
        )
        assert run_id in {r.id for r in client.process_runs.list(limit=1)}

    def test_stop_then_delete(
        self, emu: EmulatorServer, client: ControlRoomClient
    ) -> None:
        process_id = add_process(emu, failure_rate=0.0)
        started = client.process_runs.start(
            process_id, payloads=[{"n": n} for n in range(5)]
        )
        assert started.id
        emu.advance(1.5)
        with pytest.raises(Conflict):
            client.process_runs.delete(started.id)  # still going

        accepted = client.process_runs.stop(
            started.id,
            set_remaining_work_items_as_done=True,
            terminate_ongoing_activity_runs=True,
            reason="test",
        )
        assert accepted is True
        assert emu.store.get_run(started.id).stop_reason == "test"
        emu.advance(60)
        assert client.process_runs.get(started.id).state in ("completed", "unresolved")

        client.process_runs.delete(started.id)
        with pytest.raises(NotFound):
            client.process_runs.get(started.id)

    def test_stop_unknown_run_is_not_found(self, client: ControlRoomClient) -> None:
        with pytest.raises(NotFound):
            client.process_runs.stop(
                "nope",
                set_remaining_work_items_as_done=False,
                terminate_ongoing_activity_runs=False,
            )

    def test_outputs(self, emu: EmulatorServer, client: ControlRoomClient) -> None:
        run_id = finished_run(emu, client, failure_rate=0.0, items=3)
        outputs = list(client.process_runs.outputs(run_id, limit=2))
        for output in outputs:
            assert output.process_run is not None and output.process_run.id == run_id
        assert client.requests_made >= 1


class TestStepRuns:
    def test_list_get_and_outputs(
        self, emu: EmulatorServer, client: ControlRoomClient
    ) -> None:
        run_id = finished_run(emu, client, failure_rate=0.0, items=2)
        step_runs = list(client.step_runs.list(run_id))
        assert step_runs and all(isinstance(s, StepRun) for s in step_runs)
        step_run = client.step_runs.get(step_runs[0].id)
        assert step_run.state == "completed"
        assert step_run.step is not None and step_run.step.name

        messages = list(client.step_runs.console_messages(step_run.id))
        assert messages
        assert all(m.message for m in messages)
        assert isinstance(messages[0], ConsoleMessage)
        events = list(client.step_runs.events(step_run.id, limit=2))
        assert events
        assert all(e.event_type for e in events)
        assert isinstance(events[0], Event)

        artifacts = list(client.step_runs.artifacts(step_run.id))
        assert artifacts
        assert all(a.url is None for a in artifacts)
        assert isinstance(artifacts[0], Artifact)
        first = client.step_runs.artifact(step_run.id, artifacts[0].id)
        assert first.url and first.name == artifacts[0].name

        stored = next(
            a
            for a in emu.store.get_step_run(step_run.id).artifacts or []
            if a.id == first.id
        )
        data = client.step_runs.download_artifact(step_run.id, first.id)
        assert data == stored.data
        assert first.size in (None, len(data))
        assert (
            b"".join(
                client.step_runs.stream_artifact(step_run.id, first.id, chunk_size=7)
            )
            == data
        )

    def test_unknown_step_run(self, client: ControlRoomClient) -> None:
        with pytest.raises(NotFound):
            client.step_runs.get("nope")
        with pytest.raises(NotFound):
            client.step_runs.artifact("nope", "nope")


class TestWebhooks:
    def test_crud(self, emu: EmulatorServer, client: ControlRoomClient) -> None:
        process_id = add_process(emu)
        hook = client.webhooks.create(
            endpoint="https://example.test/hook",
            enabled_events=["process_run.completed"],
            process_id=process_id,
        )
        assert isinstance(hook, Webhook)
        assert hook.secret
        assert hook.secret not in repr(hook)
        assert hook.process is not None and hook.process.id == process_id

        assert hook.id in {h.id for h in client.webhooks.list()}
        fetched = client.webhooks.get(hook.id)
        assert fetched.endpoint == "https://example.test/hook"
        assert fetched.enabled_events == ["process_run.completed"]

        client.webhooks.delete(hook.id)
        assert hook.id not in emu.store.webhooks
        with pytest.raises(NotFound):
            client.webhooks.get(hook.id)

    def test_create_rejects_unknown_events(
        self, emu: EmulatorServer, client: ControlRoomClient
    ) -> None:
        with pytest.raises(BadRequest):
            client.webhooks.create(
                endpoint="https://example.test/hook",
                enabled_events=["item.exploded"],
                process_id=add_process(emu),
            )
