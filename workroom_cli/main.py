"""`workroom` commands: items list / retry / mark-done / delete, bulk watch, runs tail,
catalogue. Errors are one line on stderr; exit codes are in client.py and the README."""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO
from urllib.parse import urlencode

from workroom_cli.client import (
    CONFLICT,
    INVALID,
    OK,
    UNFINISHED,
    Api,
    CliError,
    load_config,
)

ITEM_COLUMNS = (
    "id",
    "workspace_id",
    "process_id",
    "external_id",
    "state",
    "state_updated_at",
    "exception_type",
    "exception_code",
    "exception_message",
)
TERMINAL = ("succeeded", "partially_failed", "failed", "cancelled")
RUN_TERMINAL = ("completed", "unresolved")
VERBS = {"retry": "Retry", "mark-done": "Mark done", "delete": "Delete"}
ACTIONS = {"retry": "retry", "mark-done": "mark_as_done", "delete": "delete"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="workroom",
        description="Workroom from the command line (WORKROOM_URL, WORKROOM_TOKEN).",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    items = commands.add_parser("items", help="work items").add_subparsers(
        dest="items_command", required=True
    )
    listing = items.add_parser("list", help="list work items")
    _filter_options(listing, default_state=None)
    listing.add_argument("--limit", type=int, default=100, help="at most (100)")
    shape = listing.add_mutually_exclusive_group()
    shape.add_argument("--json", action="store_true", help="one JSON array")
    shape.add_argument("--csv", action="store_true", help="CSV with a header")
    for verb in VERBS:
        act = items.add_parser(verb, help=f"{VERBS[verb].lower()} the matching items")
        _filter_options(act, default_state="failed")
        act.add_argument("--yes", action="store_true", help="do not ask")
        act.add_argument("--reason", default="", help="recorded in the audit log")
        act.add_argument("--wait", action="store_true", help="watch until finished")

    bulk = commands.add_parser("bulk", help="bulk operations").add_subparsers(
        dest="bulk_command", required=True
    )
    watch = bulk.add_parser("watch", help="show an operation's progress until it ends")
    watch.add_argument("id", type=int)
    watch.add_argument("--interval", type=float, default=1.0)

    runs = commands.add_parser("runs", help="process runs").add_subparsers(
        dest="runs_command", required=True
    )
    tail = runs.add_parser("tail", help="follow a run's console")
    tail.add_argument("run", type=int, help="the run's id (as in /api/runs)")
    tail.add_argument("--interval", type=float, default=2.0)
    tail.add_argument("--no-follow", action="store_true", help="print and stop")

    cat = commands.add_parser("catalogue", help="the actions Workroom offers")
    cat.add_argument("--json", action="store_true")
    return parser


def _filter_options(parser: argparse.ArgumentParser, default_state: str | None) -> None:
    parser.add_argument("--filter", default="", help="an /api/items query string")
    parser.add_argument("--workspace", help="workspace id or name")
    parser.add_argument("--process", help="process id or name")
    parser.add_argument(
        "--state",
        action="append",
        help=f"repeatable (default: {default_state or 'any'})",
    )
    parser.add_argument("--code", help="exception code, e.g. HTTP_ERROR")
    parser.add_argument("--type", dest="exception_type", help="exception type")
    parser.add_argument("--message", help="part of the exception message")
    parser.set_defaults(default_state=default_state)


# --- filters ------------------------------------------------------------------------------


def _resolve(api: Api, kind: str, given: str, params: dict[str, Any]) -> int:
    """An id, or the one object whose name is `given` (case-insensitive)."""
    if given.isdigit():
        return int(given)
    rows = api.get(f"/api/{kind}", params=params)
    found = [r["id"] for r in rows if r["name"].casefold() == given.casefold()]
    if len(found) != 1:
        what = {"processes": "process", "workspaces": "workspace"}[kind]
        raise CliError(
            f"{'no' if not found else 'more than one'} {what} named {given!r}"
            + (" (give its id)" if found else ""),
            INVALID,
        )
    return found[0]


def filter_query(api: Api, args: argparse.Namespace) -> str:
    params: list[tuple[str, Any]] = []
    if args.filter:
        params.append(("__raw__", args.filter))
    workspace = None
    if args.workspace:
        workspace = _resolve(api, "workspaces", args.workspace, {})
        params.append(("workspace", workspace))
    if args.process:
        where = {"workspace": workspace} if workspace else {}
        params.append(("process", _resolve(api, "processes", args.process, where)))
    states = args.state or ([args.default_state] if args.default_state else [])
    params += [("state", s) for s in states]
    if args.code:
        params.append(("exception_code", args.code))
    if args.exception_type:
        params.append(("exception_type", args.exception_type))
    if args.message:
        params.append(("message", args.message))
    raw = [v for k, v in params if k == "__raw__"]
    encoded = urlencode([(k, v) for k, v in params if k != "__raw__"])
    return "&".join(p for p in [*raw, encoded] if p)


# --- commands -------------------------------------------------------------------------------


def items_list(api: Api, args: argparse.Namespace, out: TextIO) -> int:
    query = filter_query(api, args)
    rows: list[dict[str, Any]] = []
    url: str | None = (
        f"/api/items?{query}&page_size=200" if query else "/api/items?page_size=200"
    )
    while url and len(rows) < args.limit:
        page = api.get(url)
        rows += page["items"]
        url = page["next"]
    rows = rows[: args.limit]
    if args.json:
        json.dump(rows, out, indent=2)
        out.write("\n")
    elif args.csv:
        writer = csv.DictWriter(out, ITEM_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    else:
        for r in rows:
            out.write(
                f"{r['id']:>8}  {r['state']:<11} {r['external_id']:<38} "
                f"{r['exception_code'] or '-':<20} {r['exception_message'][:60]}\n"
            )
        out.write(f"{len(rows)} item(s)\n")
    return OK


def items_act(api: Api, args: argparse.Namespace, out: TextIO, inp: TextIO) -> int:
    verb = VERBS[args.items_command]
    query = filter_query(api, args)
    op = api.post("/api/bulk", {"action": ACTIONS[args.items_command], "filter": query})
    out.write(f"Preview #{op['id']}: {verb.lower()} {op['total']} item(s)")
    out.write(f"; {op['ineligible']} not eligible\n" if op["ineligible"] else "\n")
    for row in op["by_process"]:
        out.write(f"  {row['count']:>7}  {row['label']}\n")
    for row in op["ineligible_reasons"]:
        out.write(f"  {row['count']:>7}  not eligible: {row['label']}\n")
    if not op["total"]:
        out.write("Nothing to do.\n")
        return OK
    if not args.yes:
        out.write(f"{verb} {op['total']} item(s)? [y/N] ")
        out.flush()
        if inp.readline().strip().lower() not in ("y", "yes"):
            out.write("Not confirmed; nothing was sent.\n")
            return CONFLICT
    reason = args.reason or f"workroom {args.items_command} {query}"
    op = api.post(f"/api/bulk/{op['id']}/confirm", {"reason": reason})
    out.write(f"Confirmed #{op['id']}: {op['queued']} item(s) queued.\n")
    if args.wait:
        return watch(api, op["id"], out, interval=1.0)
    return OK


def _bar(op: dict[str, Any], width: int = 30) -> str:
    filled = int(width * op["percent"] / 100)
    return (
        f"[{'#' * filled}{'.' * (width - filled)}] {op['percent']:>3}%  "
        f"done {op['done']}  skipped {op['skipped']}  failed {op['failed']}  "
        f"cancelled {op['cancelled']}  ({op['state']})"
    )


def watch(api: Api, op_id: int, out: TextIO, *, interval: float) -> int:
    tty = out.isatty()
    while True:
        op = api.get(f"/api/bulk/{op_id}")
        out.write(("\r" if tty else "") + _bar(op) + ("" if tty else "\n"))
        out.flush()
        if op["state"] in TERMINAL or op["state"] == "draft":
            break
        time.sleep(interval)
    if tty:
        out.write("\n")
    if op["state"] == "draft":
        raise CliError(f"operation #{op_id} is a preview, not confirmed", CONFLICT)
    return OK if op["state"] == "succeeded" else UNFINISHED


def runs_tail(api: Api, args: argparse.Namespace, out: TextIO) -> int:
    printed: dict[int, int] = {}  # step id → messages printed
    while True:
        run = api.get(f"/api/runs/{args.run}")
        for step in api.get(f"/api/runs/{args.run}/steps"):
            printed[step["id"]] = _print_console(
                api, step, printed.get(step["id"], 0), out
            )
        if args.no_follow or run["state"] in RUN_TERMINAL:
            out.write(f"run {run['external_id']}: {run['state']}\n")
            return OK
        time.sleep(args.interval)


def _print_console(api: Api, step: dict[str, Any], already: int, out: TextIO) -> int:
    seen = 0
    url: str | None = f"/api/steps/{step['id']}/console"
    while url:
        page = api.get(url)
        if page["error"]:
            raise CliError(page["error"])
        for message in page["messages"]:
            seen += 1
            if seen > already:
                out.write(f"[{step['step_name']}] {message.get('message', '')}\n")
        url = page["next"]
    out.flush()
    return seen


def catalogue(api: Api, args: argparse.Namespace, out: TextIO) -> int:
    found = api.get("/api/catalogue")
    if args.json:
        json.dump(found, out, indent=2)
        out.write("\n")
        return OK
    for action in found["actions"]:
        fields = ", ".join(
            f["name"] + ("" if not f["optional"] else "?")
            for f in action["input_fields"]
        )
        out.write(
            f"{action['name']:<28} {action['method']:<5} {action['path']:<32} {fields}\n"
        )
    return OK


def run(argv: Sequence[str], out: TextIO, inp: TextIO) -> int:
    args = build_parser().parse_args(argv)
    api = Api(load_config())
    if args.command == "items":
        if args.items_command == "list":
            return items_list(api, args, out)
        return items_act(api, args, out, inp)
    if args.command == "bulk":
        return watch(api, args.id, out, interval=args.interval)
    if args.command == "runs":
        return runs_tail(api, args, out)
    return catalogue(api, args, out)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return run(sys.argv[1:] if argv is None else argv, sys.stdout, sys.stdin)
    except CliError as err:
        sys.stderr.write(f"workroom: error: {err.message}\n")
        return err.code
    except KeyboardInterrupt:
        sys.stderr.write("workroom: interrupted\n")
        return 130
