"""The sync's helper threads for API reads: results in order, at most `ahead` held at once,
fetching under way before anyone asks (a first load fetches step runs while it writes
items), and nothing fetched after the block is left."""

from __future__ import annotations

import threading
import time

import pytest

from dashboard.mirror.services.sync import FetchedInOrder, fetched_in_order


class Recorder:
    def __init__(self, delay: float = 0.0) -> None:
        self.started: list[int] = []
        self.lock = threading.Lock()
        self.delay = delay

    def __call__(self, key: int) -> str:
        with self.lock:
            self.started.append(key)
        time.sleep(self.delay)
        return f"r{key}"


def wait_for(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_results_come_in_the_order_of_the_keys_whatever_finishes_first():
    def slow_evens(key: int) -> int:
        time.sleep(0.02 if key % 2 == 0 else 0)
        return key * 10

    with FetchedInOrder(slow_evens, range(12), workers=3, ahead=5) as fetched:
        assert list(fetched) == [k * 10 for k in range(12)]


def test_fetching_starts_before_iteration_and_stops_at_ahead():
    fetch = Recorder()
    with FetchedInOrder(fetch, range(100), workers=2, ahead=7) as fetched:
        wait_for(lambda: len(fetch.started) == 7)
        time.sleep(0.05)
        assert len(fetch.started) == 7  # bounded: nothing more until one is taken
        iterator = iter(fetched)
        assert next(iterator) == "r0"
        wait_for(lambda: len(fetch.started) == 8)
        assert list(iterator) == [f"r{k}" for k in range(1, 100)]


def test_leaving_the_block_cancels_what_was_not_fetched():
    fetch = Recorder(delay=0.01)
    with FetchedInOrder(fetch, range(1000), workers=2, ahead=50) as fetched:
        next(iter(fetched))
    started = len(fetch.started)
    time.sleep(0.05)
    assert len(fetch.started) == started < 60


def test_an_error_in_a_fetch_reaches_the_reader_at_its_place():
    def fail_on_three(key: int) -> int:
        if key == 3:
            raise ValueError("boom")
        return key

    seen: list[int] = []
    with (
        pytest.raises(ValueError, match="boom"),
        FetchedInOrder(fail_on_three, range(10), workers=2) as fetched,
    ):
        seen.extend(fetched)
    assert seen == [0, 1, 2]


def test_fetched_in_order_starts_only_when_iterated():
    fetch = Recorder()
    results = fetched_in_order(fetch, list(range(5)), workers=2)
    time.sleep(0.05)
    assert fetch.started == []
    assert list(results) == [f"r{k}" for k in range(5)]
