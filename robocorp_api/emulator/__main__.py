"""`python -m robocorp_api.emulator`: serve a seeded Control Room emulator until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import json
import resource
import signal
import sys
import threading
from types import FrameType
from typing import NoReturn

from .seeds import SeedError, parse_seed
from .server import EmulatorServer
from .store import MIN_SCHEDULE_EVERY, check_schedule_every


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        print(f"error: {message} (see --help)", file=sys.stderr)
        sys.exit(2)


def _parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="python -m robocorp_api.emulator",
        description="Local Control Room emulator (v1 + legacy Process API).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--seed", default="demo", help="empty | demo | large:N")
    parser.add_argument("--workspace-id", default=None)
    parser.add_argument(
        "--api-key",
        default=None,
        help="an all-permissions key to accept (default: derived from --rng-seed)",
    )
    parser.add_argument(
        "--state",
        default=None,
        help="pickle file: loaded on start when it exists, saved every 30 s and on exit",
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="simulated seconds per real second for the robots",
    )
    parser.add_argument("--rng-seed", type=int, default=0)
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        help="fault rule, e.g. kind=error,path=/work-items,status=503,times=2 (or JSON)",
    )
    parser.add_argument(
        "--paused", action="store_true", help="start with the robots paused"
    )
    parser.add_argument(
        "--schedule-every",
        type=float,
        default=None,
        metavar="SECONDS",
        help="start one run (round-robin over processes) every SECONDS of simulated time; "
        "0 = off (default: 300 for --seed demo, off otherwise; a loaded --state keeps its own)",
    )
    return parser


class _CliError(Exception):
    pass


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if not 0 <= args.port <= 65535:
            raise _CliError(f"--port must be between 0 and 65535, got {args.port}")
        if args.speed <= 0:
            raise _CliError(f"--speed must be positive, got {args.speed}")
        parse_seed(args.seed)
        if args.schedule_every is not None:
            try:
                check_schedule_every(args.schedule_every)
            except ValueError:
                raise _CliError(
                    f"--schedule-every must be 0 (off) or at least {MIN_SCHEDULE_EVERY:g} simulated seconds, "
                    f"got {args.schedule_every:g}"
                ) from None
        emu = EmulatorServer(
            host=args.host,
            port=args.port,
            seed=args.seed,
            workspace_id=args.workspace_id,
            api_key=args.api_key,
            speed=args.speed,
            state_file=args.state,
            rng_seed=args.rng_seed,
            faults=args.fault,
            schedule_every=args.schedule_every,
        )
        emu.start()
    except (SeedError, _CliError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(
            f"error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 2
    if args.paused:
        emu.pause_robots()
    store = emu.store
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"Control Room emulator on {emu.url} — {emu.seed_description} ({len(store.items)} work items, {len(store.runs)} runs) "
        f"built in {emu.seed_seconds:.2f} s, peak RSS {rss_mb:.0f} MB\n"
        f"  v1 API:     {emu.api_base_url}/workspaces/{emu.workspace_id}\n"
        f"  legacy API: {emu.legacy_base_url}/workspaces/{emu.workspace_id}\n"
        f"  API key:    {emu.api_key}   (Authorization: RC-WSKEY <key>)\n"
        f"  schedule:   {emu.schedule_description()}"
    )
    done = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    # before the JSON line: a script may send SIGTERM as soon as it has read it
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    print(json.dumps(emu.info()), flush=True)
    while not done.wait(0.5):
        pass
    try:
        emu.stop()
    except OSError as exc:
        print(
            f"error: could not save the state to {args.state}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 1
    print(
        "emulator stopped" + (f"; state saved to {args.state}" if args.state else ""),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
