"""State machines and simulated robots, driven deterministically with `advance()` (robots paused)."""

from __future__ import annotations

from typing import Any

from .emu_helpers import Api, error

STOP = "process-runs/{}/stop"


def _start(
    api: Api, process_id: str, body: Any = None, **kwargs: Any
) -> dict[str, Any]:
    answer = api.post(f"processes/{process_id}/process-runs", body, **kwargs)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def _items(api: Api, run_id: str) -> list[dict[str, Any]]:
    return api.collect("work-items", process_run_id=run_id)


def test_start_variants_create_items(emu):
    api = Api(emu)
    process = emu.store.add_process("Variants", failure_rate=0.0)
    for kwargs in (
        {},
        {"data": b"{}"},
        {"data": b"null"},
        {"data": b"", "headers": {"Content-Type": "application/json"}},
    ):
        started = _start(api, process.id, **kwargs)
        assert started["started"] is True
        rows = _items(api, started["id"])
        assert len(rows) == 1 and rows[0]["state"] == "pending"
        assert api.get(f"work-items/{rows[0]['id']}").json()["payload"] is None
    callback = {
        "url": "http://127.0.0.1:9/cb",
        "secret": "s3cret",
        "callback_events": ["completed"],
    }
    assert _start(api, process.id, {"callback": callback})["started"] is True
    many = _start(
        api,
        process.id,
        {"type": "with_payloads", "payloads": [{"order": 1}, [1, 2], "text", 7]},
    )
    payloads = sorted(
        (
            api.get(f"work-items/{r['id']}").json()["payload"]
            for r in _items(api, many["id"])
        ),
        key=str,
    )
    assert payloads == sorted([{"order": 1}, [1, 2], "text", 7], key=str)
    # with_inputs: nothing queued → started false; then consume the queue
    assert _start(api, process.id, {"type": "with_inputs"}) == {"started": False}
    created = [
        api.post(
            "work-items", {"process": {"id": process.id}, "payload": {"q": i}}
        ).json()
        for i in range(3)
    ]
    assert all(
        item["state"] == "new" and item["process_run"] is None and item["files"] == []
        for item in created
    )
    queued = _start(api, process.id, {"type": "with_inputs"})
    assert sorted(r["id"] for r in _items(api, queued["id"])) == sorted(
        i["id"] for i in created
    )
    assert _start(api, process.id, {"type": "with_inputs"}) == {"started": False}
    # with_work_item_ids: only new items of this process, once
    fresh = api.post(
        "work-items", {"process": {"id": process.id}, "payload": None}
    ).json()
    chosen = _start(
        api, process.id, {"type": "with_work_item_ids", "work_item_ids": [fresh["id"]]}
    )
    assert [r["id"] for r in _items(api, chosen["id"])] == [fresh["id"]]
    error(
        api.post(
            f"processes/{process.id}/process-runs",
            {"type": "with_work_item_ids", "work_item_ids": [fresh["id"]]},
        ),
        409,
    )
    error(
        api.post(
            f"processes/{process.id}/process-runs",
            {"type": "with_work_item_ids", "work_item_ids": ["nope"]},
        ),
        400,
    )
    error(
        api.post(
            f"processes/{process.id}/process-runs",
            {"type": "with_payloads", "payloads": []},
        ),
        400,
    )
    error(api.post("processes/unknown/process-runs"), 404)


def test_robots_complete_a_multi_step_run(emu):
    api = Api(emu)
    process = emu.store.add_process(
        "Three Steps",
        steps=["Read", "Post", "Confirm"],
        failure_rate=0.0,
        item_seconds=2,
    )
    run_id = _start(
        api,
        process.id,
        {"type": "with_payloads", "payloads": [{"i": i} for i in range(5)]},
    )["id"]
    assert api.get(f"process-runs/{run_id}").json()["state"] == "new"
    emu.advance(1.5)
    run = api.get(f"process-runs/{run_id}").json()
    assert run["state"] == "in_progress" and run["started_at"]
    step_runs = api.collect("step-runs", process_run_id=run_id)
    assert len(step_runs) == 1 and step_runs[0]["state"] in ("new", "awaiting_worker")
    emu.advance(600)
    run = api.get(f"process-runs/{run_id}").json()
    assert run["state"] == "completed" and run["ended_at"] and run["duration"] > 0
    step_runs = api.collect("step-runs", process_run_id=run_id)
    assert sorted(s["step"]["name"] for s in step_runs) == ["Confirm", "Post", "Read"]
    assert all(
        s["state"] == "completed" and s["ended_at"] and s["error"] is None
        for s in step_runs
    )
    rows = _items(api, run_id)
    assert {r["state"] for r in rows} == {"done"}
    assert {r["step"]["id"] for r in rows} == {process.steps[2].id}
    outputs = api.collect(f"process-runs/{run_id}/outputs")
    assert len(outputs) == 5 and all(
        o["payload"]["status"] == "processed" for o in outputs
    )


def test_failures_retry_in_same_run_until_completed(emu):
    api = Api(emu)
    process = emu.store.add_process("Always Fails", failure_rate=1.0, item_seconds=1)
    run_id = _start(
        api,
        process.id,
        {"type": "with_payloads", "payloads": [{"i": i} for i in range(4)]},
    )["id"]
    emu.advance(300)
    assert api.get(f"process-runs/{run_id}").json()["state"] == "unresolved"
    rows = _items(api, run_id)
    assert {r["state"] for r in rows} == {"failed"}
    assert all(
        r["exception"]["type"] in ("business", "application", "orchestrator")
        and r["exception"]["code"]
        and r["exception"]["message"]
        for r in rows
    )
    first_step_run = rows[0]["step_run"]["id"]
    process.failure_rate = 0.0  # the retried items now succeed
    assert api.post(
        "work-items/batch",
        {"batch_operation": "retry", "work_item_ids": [r["id"] for r in rows[:2]]},
    ).json() == {"accepted": True}
    retried = api.get(f"work-items/{rows[0]['id']}").json()
    assert (
        retried["state"] == "pending"
        and retried["exception"] is None
        and retried["process_run"]["id"] == run_id
    )
    assert api.get(f"process-runs/{run_id}").json()["state"] == "in_progress"
    emu.advance(300)
    after = api.get(f"work-items/{rows[0]['id']}").json()
    assert after["state"] == "done" and after["step_run"]["id"] != first_step_run
    assert len(api.collect("step-runs", process_run_id=run_id)) == 2
    assert (
        api.get(f"process-runs/{run_id}").json()["state"] == "unresolved"
    )  # two items still failed
    api.post(
        "work-items/batch",
        {"batch_operation": "mark_as_done", "work_item_ids": [rows[2]["id"]]},
    )
    assert api.get(f"work-items/{rows[2]['id']}").json()["state"] == "done"
    api.post(
        "work-items/batch",
        {"batch_operation": "delete", "work_item_ids": [rows[3]["id"]]},
    )
    error(api.get(f"work-items/{rows[3]['id']}"), 404)
    assert api.get(f"process-runs/{run_id}").json()["state"] == "completed"


def test_batch_ignores_non_failed_items_and_unknown_ids(emu):
    api = Api(emu)
    process = emu.store.add_process("Batch Guard")
    item = api.post("work-items", {"process": {"id": process.id}, "payload": {}}).json()
    for operation in ("retry", "mark_as_done", "delete"):
        answer = api.post(
            "work-items/batch",
            {"batch_operation": operation, "work_item_ids": [item["id"], "no-such-id"]},
        )
        assert answer.json() == {"accepted": True}
        assert api.get(f"work-items/{item['id']}").json()["state"] == "new"


def test_legacy_retry_of_non_failed_is_409(emu):
    process = emu.store.add_process("Legacy Retry", failure_rate=1.0, item_seconds=1)
    legacy = Api(emu, legacy=True)
    item = legacy.post(
        f"processes/{process.id}/work-items", {"payload": {"x": 1}}
    ).json()
    answer = legacy.session.post(
        legacy.url(f"processes/{process.id}/work-items/{item['id']}/retry"), timeout=5
    )
    assert "NEW" in error(answer, 409)["message"]
    run = legacy.post(
        f"processes/{process.id}/run-request",
        {"type": "workItemIds", "workItemIds": [item["id"]]},
    ).json()
    emu.advance(120)
    assert (
        legacy.get(f"processes/{process.id}/runs/{run['id']}").json()["state"]
        == "PENDING"
    )
    retried = legacy.session.post(
        legacy.url(f"processes/{process.id}/work-items/{item['id']}/retry"), timeout=5
    )
    assert retried.status_code == 200 and retried.json()["state"] == "PENDING"


def test_stop_graceful_terminate_and_remaining_done(emu):
    api = Api(emu)
    process = emu.store.add_process("Stoppable", failure_rate=0.0, item_seconds=10)
    payloads = {"type": "with_payloads", "payloads": [{"i": i} for i in range(10)]}

    def started_run() -> str:
        run_id = str(_start(api, process.id, payloads)["id"])
        emu.advance(4)  # run in progress, first item being processed
        assert any(r["state"] == "in_progress" for r in _items(api, run_id))
        return run_id

    # graceful: the current item finishes, the rest fail (not set as done)
    graceful = started_run()
    body = {
        "set_remaining_work_items_as_done": False,
        "terminate_ongoing_activity_runs": False,
        "reason": "maintenance",
    }
    assert api.post(STOP.format(graceful), body).json() == {"accepted": True}
    assert api.get(f"process-runs/{graceful}").json()["state"] == "stopping"
    emu.advance(30)
    states = sorted(r["state"] for r in _items(api, graceful))
    assert states == ["done"] + ["failed"] * 9
    assert api.get(f"process-runs/{graceful}").json()["state"] == "unresolved"
    assert {
        r["exception"]["code"] for r in _items(api, graceful) if r["exception"]
    } == {"PROCESS_RUN_STOPPED"}

    # terminate + set remaining as done: the current item fails (terminated), the rest are done
    terminated = started_run()
    body = {
        "set_remaining_work_items_as_done": True,
        "terminate_ongoing_activity_runs": True,
    }
    assert api.post(STOP.format(terminated), body).json() == {"accepted": True}
    emu.advance(1)
    rows = _items(api, terminated)
    assert sorted(r["state"] for r in rows) == ["done"] * 9 + ["failed"]
    assert [r["exception"]["code"] for r in rows if r["exception"]] == ["TERMINATED"]
    step_runs = api.collect("step-runs", process_run_id=terminated)
    assert step_runs[0]["state"] == "failed" and step_runs[0]["error"] == {
        "code": "terminated"
    }
    assert api.get(f"process-runs/{terminated}").json()["state"] == "unresolved"

    # stopping a finished run is not accepted; bad bodies are 400
    assert api.post(STOP.format(terminated), body).json() == {"accepted": False}
    error(
        api.post(STOP.format(terminated), {"terminate_ongoing_activity_runs": True}),
        400,
    )


def test_delete_run(emu):
    api = Api(emu)
    process = emu.store.add_process("Deletable", failure_rate=0.0, item_seconds=1)
    run_id = _start(api, process.id)["id"]
    item_id = _items(api, run_id)[0]["id"]
    assert (
        error(api.delete(f"process-runs/{run_id}"), 409)["code"] == "process_run_active"
    )
    emu.advance(60)
    assert api.delete(f"process-runs/{run_id}").json() == {
        "id": run_id,
        "deleted": True,
    }
    error(api.get(f"process-runs/{run_id}"), 404)
    error(api.get(f"work-items/{item_id}"), 404)
    error(api.delete(f"process-runs/{run_id}"), 404)


def test_payload_update_and_failure_decisions_repeatable(emulator_factory):
    outcomes = []
    for _ in range(2):
        emu = emulator_factory(rng_seed=42)
        emu.pause_robots()
        process = emu.store.add_process("Repeatable", failure_rate=0.4, item_seconds=1)
        api = Api(emu)
        run_id = _start(
            api, process.id, {"type": "with_payloads", "payloads": list(range(30))}
        )["id"]
        emu.advance(600)
        outcomes.append(
            sorted(
                (r["id"], r["state"], (r["exception"] or {}).get("message"))
                for r in _items(api, run_id)
            )
        )
        item_id = outcomes[-1][0][0]
        assert api.put(
            f"work-items/{item_id}/payload", {"payload": {"fixed": True}}
        ).json() == {"payload": {"fixed": True}}
        assert api.post(
            f"work-items/{item_id}/payload", json={"payload": [1]}
        ).json() == {"payload": [1]}
        assert api.get(f"work-items/{item_id}").json()["payload"] == [1]
        error(api.put(f"work-items/{item_id}/payload", {"nope": 1}), 400)
    assert outcomes[0] == outcomes[1]
    assert 3 < sum(1 for o in outcomes[0] if o[1] == "failed") < 25


def test_background_robots_progress_in_accelerated_time(emu):
    import time

    emu.set_speed(50.0)
    emu.resume_robots()
    process = emu.store.add_process("Background", failure_rate=0.0, item_seconds=2)
    api = Api(emu)
    run_id = _start(api, process.id, {"type": "with_payloads", "payloads": [1, 2, 3]})[
        "id"
    ]
    deadline = time.monotonic() + 10
    while api.get(f"process-runs/{run_id}").json()["state"] != "completed":
        assert time.monotonic() < deadline, (
            "robots did not finish a 3-item run at speed 50"
        )
        time.sleep(0.05)
