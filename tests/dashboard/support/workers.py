"""Real Celery workers (subprocesses of `celery -A dashboard worker`) for the tests, and waiting.

`Workers` starts solo-pool workers on a queue of the test's own, waits until each is ready and
stops them all when its `with` block ends (SIGTERM, then SIGKILL). The workers' environment is
the caller's (usually `subprocess_env`, so they use this test's database).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any


def wait_until(
    condition: Callable[[], Any], *, timeout: float, interval: float = 0.05
) -> Any:
    """Return the first truthy value of `condition()`; fail when `timeout` seconds pass first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


def celery_worker_argv(*options: str) -> list[str]:
    """Return the argv of a Celery worker of this project run by the test interpreter."""
    return [sys.executable, "-m", "celery", "-A", "dashboard", "worker", *options]


class Worker:
    def __init__(self, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.proc = proc
        self.log = log

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


class Workers:
    """Solo-pool (or `pool`) workers on `queue`, named `<name>N-…@host`, logging to `log_dir/worker-N.log`."""

    def __init__(
        self,
        *,
        queue: str,
        env: Mapping[str, str],
        log_dir: Path,
        name: str,
        pool: str = "solo",
    ) -> None:
        # "prefork" (one child) where the test needs Celery's time limits, which solo lacks.
        self.pool = ["-P", "solo"] if pool == "solo" else ["-P", pool, "-c", "1"]
        self.queue = queue
        self.env = dict(env)
        self.log_dir = log_dir
        self.name = name
        self.started: list[Worker] = []

    def start(self, **env: str) -> Worker:
        """Start one more worker (`env` added to the environment) and wait until it is ready."""
        n = len(self.started)
        log = self.log_dir / f"worker-{n}.log"
        # Solo pool: the task runs in the worker process itself, so SIGKILL kills it mid-flight.
        argv = celery_worker_argv(
            *self.pool,
            "-Q",
            self.queue,
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
            "-l",
            "info",
            "-n",
            f"{self.name}{n}-{uuid.uuid4().hex[:6]}@%h",
        )
        proc = subprocess.Popen(
            argv,
            env={**self.env, **env},
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        worker = Worker(proc, log)
        self.started.append(worker)  # stopped at the end even if it never gets ready
        wait_until(
            lambda: "ready." in worker.output() or proc.poll() is not None, timeout=30
        )
        assert proc.poll() is None, worker.output()
        return worker

    def stop_all(self) -> None:
        for worker in self.started:
            worker.stop()

    def __enter__(self) -> Workers:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop_all()
