from __future__ import annotations

from urllib.parse import urlsplit

from robocorp_api.emulator import EmulatorServer
from robocorp_api.emulator.store import Process

from .emu_helpers import Api, error


def _seed_items(emu: EmulatorServer, count: int, name: str) -> Process:
    process = emu.store.add_process(name)
    for i in range(count):
        emu.store.create_input_item(process, {"n": i})
    return process


def test_paging_2500_items_no_duplicates_no_gaps(emu):
    process = _seed_items(emu, 2500, "Paging")
    api = Api(emu)
    first = api.get("work-items", process_id=process.id, limit=100).json()
    assert first["has_more"] is True and len(first["data"]) == 100
    parts = urlsplit(first["next"])
    assert (
        parts.scheme == "http" and parts.netloc == urlsplit(emu.url).netloc
    )  # absolute, from Host
    rows = api.collect("work-items", process_id=process.id, limit=100)
    ids = [r["id"] for r in rows]
    assert len(ids) == 2500 == len(set(ids))
    payload_numbers = [
        api.get(f"work-items/{ids[i]}").json()["payload"]["n"] for i in (0, 1, 2499)
    ]
    assert payload_numbers == [2499, 2498, 0]  # newest first
    created = [r["created_at"] for r in rows]
    assert created == sorted(created, reverse=True)


def test_limit_default_cap_and_last_page(emu):
    process = _seed_items(emu, 1205, "Limits")
    api = Api(emu)
    assert len(api.get("work-items", process_id=process.id).json()["data"]) == 100
    capped = api.get("work-items", process_id=process.id, limit=5000).json()
    assert len(capped["data"]) == 1000 and capped["has_more"]
    last = api.session.get(capped["next"], timeout=5).json()
    assert (
        len(last["data"]) == 205 and last["has_more"] is False and last["next"] is None
    )
    second_last = api.get(
        "work-items",
        process_id=process.id,
        limit=205,
        cursor=urlsplit(capped["next"]).query.split("cursor=")[1],
    ).json()
    assert (
        len(second_last["data"]) == 205
        and second_last["has_more"] is False
        and second_last["next"] is None
    )


def test_filters_combine_and_next_keeps_them(emu):
    a = emu.store.add_process("Filter A", failure_rate=0.5)
    b = emu.store.add_process("Filter B", failure_rate=0.0)
    run_a = emu.store.create_run(a.id, payloads=[{"i": i} for i in range(60)])
    run_b = emu.store.create_run(b.id, payloads=[{"i": i} for i in range(40)])
    emu.advance(3600)
    api = Api(emu)
    assert api.get(f"process-runs/{run_a.id}").json()["state"] == "unresolved"
    assert api.get(f"process-runs/{run_b.id}").json()["state"] == "completed"
    failed = api.collect("work-items", process_id=a.id, state="failed", limit=7)
    done = api.collect("work-items", process_run_id=run_a.id, state="done", limit=7)
    assert failed and done and len(failed) + len(done) == 60
    assert all(
        r["state"] == "failed" and r["process"]["id"] == a.id and r["exception"]
        for r in failed
    )
    assert all(
        r["process_run"]["id"] == run_a.id and r["exception"] is None for r in done
    )
    assert len(api.collect("work-items", state="done", limit=9)) == len(done) + 40
    assert api.collect("work-items", process_id=b.id, state="failed") == []
    assert api.get("work-items", process_id="unknown").json() == {
        "data": [],
        "has_more": False,
        "next": None,
    }
    assert len(api.collect("process-runs", process_id=a.id)) == 1
    assert [r["id"] for r in api.collect("process-runs", state="completed")] == [
        run_b.id
    ]
    # nested (older spec revision) endpoints
    assert len(api.collect(f"process-runs/{run_a.id}/work-items", limit=11)) == 60
    assert len(api.collect(f"processes/{b.id}/work-items", state="done")) == 40
    assert [r["id"] for r in api.collect(f"processes/{a.id}/process-runs")] == [
        run_a.id
    ]
    error(api.get("process-runs", state="running"), 400)


def test_runs_newest_first_and_paged(emu):
    process = emu.store.add_process("Many Runs")
    runs = [emu.store.create_run(process.id) for _ in range(25)]
    api = Api(emu)
    listed = api.collect("process-runs", limit=4)
    assert [r["id"] for r in listed] == [r.id for r in reversed(runs)]


def test_large_seed_pages_are_fast(emulator_factory):
    import time

    emu = emulator_factory(seed="large:100000")
    api = Api(emu)
    answer = api.get("work-items", limit=500, state="done")
    assert answer.status_code == 200 and len(answer.json()["data"]) == 500
    started = time.perf_counter()
    url = answer.json()["next"]
    for _ in range(20):
        body = api.session.get(url, timeout=10).json()
        url = body["next"]
    assert time.perf_counter() - started < 3
    totals = emu.store.items.count()
    assert sum(totals.values()) == 100_000
    assert 0.04 < totals["failed"] / 100_000 < 0.12
