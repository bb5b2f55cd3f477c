"""HTTP transport (stdlib ThreadingHTTPServer, TCP_NODELAY, HTTP/1.1 keep-alive) and `EmulatorServer`."""

from __future__ import annotations

import json
import socket
import threading
import time
import traceback
from collections import Counter
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from . import admin, fleet_api, legacy, v1
from .clock import SimClock
from .faults import RESPONSE_KINDS, FaultRule, Faults
from .fleet import set_worker_online
from .robots import Robots
from .routing import Request, Response, Router, error_response
from .seeds import SeedError, build_store, default_schedule_every
from .store import ALL_PERMISSIONS, EmulatorError, Store, check_schedule_every
from .webhooks import WebhookDispatcher

MAX_BODY = 80 * 1024 * 1024
_REASONS = {200: "OK", 204: "No Content", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
            405: "Method Not Allowed", 409: "Conflict", 413: "Payload Too Large", 429: "Too Many Requests",
            500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}  # fmt: skip


class Stats:
    """Request counters per (method, route template) and in total; `reset()` zeroes them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self.total = 0

    def record(self, method: str, route: str, status: int) -> None:
        with self._lock:
            self.counts[f"{method} {route}"] += 1
            self.statuses[status] += 1
            self.total += 1

    def count(self, method: str, route: str) -> int:
        with self._lock:
            return self.counts[f"{method} {route}"]

    def reset(self) -> None:
        with self._lock:
            self.counts.clear()
            self.statuses.clear()
            self.total = 0

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "total": self.total,
                "by_route": dict(self.counts),
                "by_status": {str(k): v for k, v in self.statuses.items()},
            }


class Emulator:
    """Everything a request handler needs: the store, robots, faults, stats, webhooks and the router."""

    def __init__(
        self,
        store: Store,
        faults: Faults,
        robots: Robots,
        dispatcher: WebhookDispatcher,
        state_file: Path | None,
    ) -> None:
        self.store = store
        self.faults = faults
        self.robots = robots
        self.dispatcher = dispatcher
        self.stats = Stats()
        self.state_file = state_file
        self.url = ""
        self.api_key = ""
        self.router = Router()
        admin.register(self.router)
        v1.register(self.router)
        fleet_api.register(self.router)
        legacy.register(self.router)

    def handle(self, req: Request) -> Response:
        try:
            handler, route, params = self.router.resolve(req.method, req.path)
            req.params, req.route = params, route
            return handler(req)
        except EmulatorError as exc:
            return error_response(exc.status, exc.code, exc.message, exc.headers)
        except (
            Exception
        ) as exc:  # the emulator must never answer with an HTML traceback
            traceback.print_exc()
            return error_response(
                500, "internal_error", f"Emulator bug: {type(exc).__name__}"
            )


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    app: Emulator


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = (
        True  # avoids the ~40 ms Nagle/delayed-ACK stall on keep-alive requests
    )
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_OPTIONS(self) -> None:
        self._dispatch("OPTIONS")

    def __getattr__(self, name: str) -> Any:
        # Any other method (TRACE, a made-up token, ...) goes through the router too: 405 with Allow
        # on a known path, 404 elsewhere (BaseHTTPRequestHandler would answer 501 with an HTML page).
        if name.startswith("do_") and name[3:].isupper():
            return lambda: self._dispatch(name[3:])
        raise AttributeError(name)

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0 or length > MAX_BODY:
            raise EmulatorError(
                413, "payload_too_large", f"Request body larger than {MAX_BODY} bytes"
            )
        return self.rfile.read(length) if length else b""

    def _dispatch(self, method: str) -> None:
        app = self.server.app
        split = urlsplit(self.path)
        path = split.path
        try:
            body = self._read_body()
        except (ValueError, EmulatorError) as exc:
            self.close_connection = True
            status, code, message = (
                (exc.status, exc.code, exc.message)
                if isinstance(exc, EmulatorError)
                else (400, "bad_request", "Malformed request body framing")
            )
            self._send(error_response(status, code, message), method)
            return
        req = Request(
            method=method,
            path=path,
            query=dict(parse_qsl(split.query, keep_blank_values=True)),
            headers=self.headers,
            body=body,
            host=self.headers.get("Host") or self._own_host(),
            app=app,
        )
        internal = path.startswith("/__emulator__")
        rule: FaultRule | None = None
        if not internal:
            latency, rule = app.faults.pick(method, path)
            if latency:
                time.sleep(latency / 1000)
            if (
                rule is not None
                and not rule.after_apply
                and rule.kind not in RESPONSE_KINDS
            ):
                self._record(app, req, rule)
                self._apply_fault(rule, method, None)
                return
        response = app.handle(req)
        if not internal:
            app.stats.record(method, req.route or "<unmatched>", response.status)
        if rule is not None and rule.kind == "repeat_next":
            self._send(_repeat_next(response, f"{req.base_url}{self.path}"), method)
            return
        if rule is not None:
            self._apply_fault(rule, method, response)
            return
        self._send(response, method)

    def _own_host(self) -> str:
        host, port = self.server.server_address[:2]
        return f"{host if isinstance(host, str) else host.decode()}:{port}"

    def _record(self, app: Emulator, req: Request, rule: FaultRule) -> None:
        try:
            _, route, _ = app.router.resolve(req.method, req.path)
        except EmulatorError:
            route = "<unmatched>"
        app.stats.record(req.method, route, rule.status if rule.kind == "error" else 0)

    def _apply_fault(
        self, rule: FaultRule, method: str, response: Response | None
    ) -> None:
        if rule.kind == "error":
            self._send(
                error_response(
                    rule.status, "injected_fault", f"Injected fault: HTTP {rule.status}"
                ),
                method,
            )
        elif rule.kind == "rate_limit":
            self._send(
                error_response(
                    429,
                    "rate_limited",
                    "Too many requests",
                    [("Retry-After", rule.retry_after)],
                ),
                method,
            )
        elif rule.kind == "malformed":
            self._send(
                Response(200, b'{"data": [{"id": "truncated', "application/json"),
                method,
            )
        elif rule.kind == "drop":
            self.close_connection = True
            self._hard_close()
        elif rule.kind == "reset_mid_body" and response is not None:
            # The real answer (the request was handled), cut after its headers and half of its body.
            body = response.body
            head = f"HTTP/1.1 {response.status} OK\r\nContent-Type: {response.content_type}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            self.wfile.write(head + body[: len(body) // 2])
            self.close_connection = True
            self._hard_close()

    def _hard_close(self) -> None:
        try:
            self.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _send(self, response: Response, method: str) -> None:
        reason = _REASONS.get(response.status, "Unknown")
        lines = [
            f"HTTP/1.1 {response.status} {reason}",
            "Server: ControlRoomEmulator/1.0",
            "Access-Control-Allow-Origin: *",
        ]
        body = b"" if response.status == 204 else response.body
        if response.status != 204:
            lines.append(f"Content-Type: {response.content_type}")
            lines.append(f"Content-Length: {len(body)}")
        lines.extend(f"{name}: {value}" for name, value in response.headers)
        if (
            self.close_connection
            or (self.headers.get("Connection") or "").lower() == "close"
        ):
            lines.append("Connection: close")
            self.close_connection = True
        payload = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (
            b"" if method == "HEAD" else body
        )
        self.wfile.write(payload)  # headers and body in one send


def _repeat_next(response: Response, own_url: str) -> Response:
    """The page with its `next` pointing back at itself (`own_url`); other answers unchanged."""
    try:
        page = json.loads(response.body)
    except ValueError:
        return response
    if not isinstance(page, dict) or not page.get("next"):
        return response
    page["next"] = own_url
    return Response(
        response.status,
        json.dumps(page, separators=(",", ":")).encode(),
        response.content_type,
        response.headers,
    )


class EmulatorServer:
    """A Control Room emulator on loopback. See robocorp_api/README.md, section "Emulator"."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: str = "empty",
        workspace_id: str | None = None,
        api_key: str | None = None,
        speed: float = 1.0,
        state_file: str | Path | None = None,
        rng_seed: int = 0,
        faults: Iterable[str | dict[str, Any]] = (),
        webhook_backoff: float = 0.5,
        webhook_attempts: int = 5,
        schedule_every: float | None = None,
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        if schedule_every is not None:
            check_schedule_every(schedule_every)
        self.host = host
        self._port = port
        self.clock = SimClock(speed)
        self.state_file = Path(state_file) if state_file else None
        started = time.perf_counter()
        if self.state_file is not None and self.state_file.exists():
            self.store = Store.load(self.state_file, self.clock)
            self.seed_description = f"state loaded from {self.state_file}"
            self._loaded_schedule(seed, schedule_every)
        else:
            self.store = build_store(
                seed,
                clock=self.clock,
                workspace_id=workspace_id,
                rng_seed=rng_seed,
                schedule_every=schedule_every,
            )
            self.seed_description = f"seed {seed}"
        self.seed_seconds = time.perf_counter() - started
        if api_key is not None:
            self.store.keys[api_key] = ALL_PERMISSIONS
            self.api_key = api_key
        else:
            self.api_key = next(
                (k for k, v in self.store.keys.items() if v == ALL_PERMISSIONS), None
            ) or self.store.add_key(ALL_PERMISSIONS)
        self.faults = Faults(rng_seed)
        for spec in faults:
            self.faults.add(spec)
        self.robots = Robots(self.store)
        self.dispatcher = WebhookDispatcher(
            self.store, max_attempts=webhook_attempts, backoff=webhook_backoff
        )
        self.app = Emulator(
            self.store, self.faults, self.robots, self.dispatcher, self.state_file
        )
        self.app.api_key = self.api_key
        self._httpd: _Server | None = None
        self._threads: list[threading.Thread] = []
        self._saver_stop = threading.Event()
        self._stopped = False

    def _loaded_schedule(self, seed: str, every: float | None) -> None:
        """A loaded state keeps its schedule unless `every` is given; states saved before schedules get the seed's."""
        store = self.store
        if every is None and not store.schedule_configured:
            try:
                every = default_schedule_every(seed)
            except SeedError:
                every = 0.0
        if every is not None and (
            every != store.schedule_every or not store.schedule_configured
        ):
            store.set_schedule(every)

    # ----------------------------------------------------------------- attributes
    @property
    def workspace_id(self) -> str:
        return self.store.workspace_id

    @property
    def port(self) -> int:
        return self._httpd.server_address[1] if self._httpd else self._port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_base_url(self) -> str:
        return self.url + "/api/v1"

    @property
    def legacy_base_url(self) -> str:
        return self.url + "/process-v1"

    @property
    def stats(self) -> Stats:
        return self.app.stats

    def info(self) -> dict[str, str]:
        return {
            "url": self.url,
            "api_base_url": self.api_base_url,
            "legacy_base_url": self.legacy_base_url,
            "workspace_id": self.workspace_id,
            "api_key": self.api_key,
        }

    # ----------------------------------------------------------------- lifecycle
    def start(self) -> EmulatorServer:
        httpd = _Server((self.host, self._port), _Handler)
        httpd.app = self.app
        self._httpd = httpd
        self.app.url = self.url
        thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="emulator-http",
            daemon=True,
        )
        thread.start()
        self._threads.append(thread)
        self.robots.start()
        self.dispatcher.start()
        if self.state_file is not None:
            saver = threading.Thread(
                target=self._autosave, name="emulator-autosave", daemon=True
            )
            saver.start()
            self._threads.append(saver)
        return self

    def _autosave(self) -> None:
        while not self._saver_stop.wait(30):
            self.save_state()

    def save_state(self) -> None:
        if self.state_file is not None:
            self.store.save(self.state_file)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._saver_stop.set()
        self.robots.stop()
        self.dispatcher.stop()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        self.save_state()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ----------------------------------------------------------------- controls
    def create_key(self, permissions: Iterable[str]) -> str:
        return self.store.add_key(permissions)

    def pause_robots(self) -> None:
        self.robots.pause()

    def resume_robots(self) -> None:
        self.robots.resume()

    def set_speed(self, speed: float) -> None:
        self.clock.set_speed(speed)

    def advance(self, seconds: float) -> None:
        self.robots.advance(seconds)

    def set_worker_online(self, worker: str, online: bool) -> None:
        """Take a worker (id or name) offline or bring it back online; KeyError if unknown."""
        with self.store.lock:
            found = self.store.fleet.find_worker(worker)
            if found is None:
                raise KeyError(worker)
            set_worker_online(self.store, found, online)

    def set_schedule(self, every: float) -> None:
        """One scheduled run every `every` simulated seconds (0 = off); the next is due an interval from now."""
        self.store.set_schedule(every)

    def schedule_description(self) -> str:
        store = self.store
        with store.lock:
            if not store.schedule_every or store.schedule_next is None:
                return "off"
            return (
                f"one run every {store.schedule_every:g} simulated s, round-robin over "
                f"{len(store.live_processes())} processes, next in {max(0.0, store.schedule_next - store.now()):.0f} s"
            )

    def deliveries(self) -> list[dict[str, Any]]:
        return self.dispatcher.deliveries()

    def __repr__(self) -> str:
        return f"EmulatorServer(url={self.url!r}, workspace_id={self.workspace_id!r})"
