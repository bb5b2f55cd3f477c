"""Simulated time: runs at `speed` times real time, can be paused and advanced deterministically."""

from __future__ import annotations

import threading
import time


class SimClock:
    """Epoch seconds in simulated time. Paused = frozen; `advance` jumps ahead."""

    def __init__(self, speed: float = 1.0, start: float | None = None) -> None:
        self._lock = threading.Lock()
        self._speed = speed
        self._running = True
        self._anchor_real = time.monotonic()
        self._anchor_sim = time.time() if start is None else start

    def now(self) -> float:
        with self._lock:
            if not self._running:
                return self._anchor_sim
            return (
                self._anchor_sim + (time.monotonic() - self._anchor_real) * self._speed
            )

    def _rebase(self) -> None:
        now_real = time.monotonic()
        if self._running:
            self._anchor_sim += (now_real - self._anchor_real) * self._speed
        self._anchor_real = now_real

    @property
    def speed(self) -> float:
        return self._speed

    @property
    def running(self) -> bool:
        return self._running

    def set_speed(self, speed: float) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        with self._lock:
            self._rebase()
            self._speed = speed

    def pause(self) -> None:
        with self._lock:
            self._rebase()
            self._running = False

    def resume(self) -> None:
        with self._lock:
            self._rebase()
            self._running = True

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("cannot advance by a negative number of seconds")
        with self._lock:
            self._rebase()
            self._anchor_sim += seconds

    def set_now(self, value: float) -> None:
        with self._lock:
            self._anchor_real = time.monotonic()
            self._anchor_sim = value
