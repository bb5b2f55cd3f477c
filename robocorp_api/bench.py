"""Benchmark: page through work items with the client and with a bare ``requests`` loop.

    python -m robocorp_api.bench                      # starts an emulator seeded large:100000
    python -m robocorp_api.bench --items 20000 --limit 500
    python -m robocorp_api.bench --url http://127.0.0.1:8765/api/v1 --api-key KEY --workspace-id WS

Prints items/s for each, their ratio, the requests made and the peak Python memory
(tracemalloc, measured in a separate pass so it does not slow the timed pass) plus the
process's max RSS. The emulator runs as a subprocess so it does not share our GIL.
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import requests

from robocorp_api.client import ControlRoomClient


@dataclass(frozen=True)
class Target:
    api_base_url: str
    api_key: str
    workspace_id: str


@dataclass
class Result:
    items: int
    seconds: float
    requests: int
    peak_bytes: int = 0

    @property
    def rate(self) -> float:
        return self.items / self.seconds if self.seconds else float("inf")


def client_pass(target: Target, items: int, limit: int) -> tuple[int, int]:
    with ControlRoomClient(
        target.api_key, workspace_id=target.workspace_id, base_url=target.api_base_url
    ) as client:
        count = 0
        for _item in itertools.islice(client.work_items.list(limit=limit), items):
            count += 1
        return count, client.requests_made


def bare_pass(target: Target, items: int, limit: int) -> tuple[int, int]:
    headers = {"Authorization": f"RC-WSKEY {target.api_key}"}
    url: str | None = (
        f"{target.api_base_url}/workspaces/{target.workspace_id}/work-items"
    )
    params: dict[str, Any] | None = {"limit": limit}
    count = requests_made = 0
    with requests.Session() as session:
        while url and count < items:
            response = session.get(url, params=params, headers=headers, timeout=(5, 30))
            requests_made += 1
            response.raise_for_status()
            body = response.json()
            for _item in body["data"][: items - count]:
                count += 1
            url = body["next"] if body.get("has_more") else None
            params = None
    return count, requests_made


def measure(
    run: Callable[[Target, int, int], tuple[int, int]],
    target: Target,
    items: int,
    limit: int,
    rounds: int,
) -> Result:
    """Best of ``rounds`` timed passes (the box is shared), then one traced pass for peak memory."""
    best: Result | None = None
    for _ in range(rounds):
        start = time.perf_counter()
        count, made = run(target, items, limit)
        result = Result(items=count, seconds=time.perf_counter() - start, requests=made)
        if best is None or result.seconds < best.seconds:
            best = result
    assert best is not None
    tracemalloc.start()
    run(target, items, limit)
    _, best.peak_bytes = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return best


@contextmanager
def emulator_subprocess(items: int) -> Iterator[Target]:
    command = [
        sys.executable,
        "-m",
        "robocorp_api.emulator",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--seed",
        f"large:{items}",
    ]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)  # noqa: S603 - fixed argv, our own module
    try:
        target = _read_target(proc)
        yield target
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _read_target(proc: subprocess.Popen[str]) -> Target:
    assert proc.stdout is not None
    for line in proc.stdout:
        line = line.strip()
        if line.startswith("{"):
            info = json.loads(line)
            return Target(info["api_base_url"], info["api_key"], info["workspace_id"])
    raise SystemExit(
        f"the emulator exited (code {proc.wait()}) before printing its JSON line"
    )


def report(items: int, limit: int, client: Result, bare: Result) -> None:
    print(f"work items requested: {items:,}  page size: {limit}")
    for name, result in (("client", client), ("bare requests", bare)):
        print(
            f"{name:>14}: {result.items:,} items in {result.seconds:.2f} s = {result.rate:,.0f} items/s; "
            f"{result.requests:,} requests; peak traced memory {result.peak_bytes / 1e6:.1f} MB"
        )
    print(
        f"ratio bare/client: {bare.rate / client.rate:.2f}x (client is {client.rate / bare.rate:.0%} of bare speed)"
    )
    print(
        f"max RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f} MB"
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m robocorp_api.bench", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--items",
        type=int,
        default=100_000,
        help="work items to page through (default 100000)",
    )
    parser.add_argument(
        "--limit", type=int, default=100, help="page size (default 100)"
    )
    parser.add_argument(
        "--url", help="API base URL of a running emulator, ending in /api/v1"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="timed passes of each loop; the best counts (default 3)",
    )
    parser.add_argument("--api-key", help="API key for --url")
    parser.add_argument("--workspace-id", help="workspace id for --url")
    args = parser.parse_args(argv)
    if args.items < 1 or args.limit < 1 or args.rounds < 1:
        parser.error("--items, --limit and --rounds must be positive")
    if args.url and not (args.api_key and args.workspace_id):
        parser.error("--url needs --api-key and --workspace-id")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.url:
        target = Target(args.url.rstrip("/"), args.api_key, args.workspace_id)
        run_all(target, args.items, args.limit, args.rounds)
        return
    started = time.perf_counter()
    with emulator_subprocess(args.items) as target:
        print(
            f"emulator seeded with large:{args.items} in {time.perf_counter() - started:.1f} s"
        )
        run_all(target, args.items, args.limit, args.rounds)


def run_all(target: Target, items: int, limit: int, rounds: int) -> None:
    # Warm both paths (connections, pydantic validators) before timing.
    client_pass(target, min(items, limit * 2), limit)
    bare_pass(target, min(items, limit * 2), limit)
    bare = measure(bare_pass, target, items, limit, rounds)
    client = measure(client_pass, target, items, limit, rounds)
    report(items, limit, client, bare)


if __name__ == "__main__":
    main()
