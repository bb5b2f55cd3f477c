"""Issue 11 deliverable 4: the production stack without Docker.

The commands docker-compose's services run (migrate, gunicorn with DEBUG off, worker, beat) are
read from docker-compose.yml and run as subprocesses on loopback against PostgreSQL and Redis with
production settings; /healthz turns green, a log-in works and a sync against the emulator fills the
item explorer. A second test checks that docker-compose.yml, the Dockerfile and the Procfile use
the same commands and that the variables the settings require are provided.

Only the bind address, worker counts and the beat schedule file are changed from the compose
commands (loopback, a frugal process count, a temporary directory). No TLS in front, so
WORKROOM_SSL_REDIRECT=0; the emulator speaks http on loopback, so WORKROOM_ALLOW_HTTP_LOOPBACK=1.
"""

from __future__ import annotations

import os
import re
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
import yaml
from cryptography.fernet import Fernet

from robocorp_api.emulator import EmulatorServer

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PG_ADMIN = os.environ.get(
    "WORKROOM_STACK_PG", "postgres://postgres@127.0.0.1:5432/postgres"
)
PASSWORD = "stack-smoke-" + secrets.token_urlsafe(8)

pytestmark = [pytest.mark.slow, pytest.mark.worker, pytest.mark.emulator]


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(
        (REPO_ROOT / "docker-compose.yml").read_text()
    )
    return loaded


def compose_command(service: str) -> list[str]:
    command: list[str] = compose()["services"][service]["command"]
    return list(command)


def dockerfile_cmd() -> list[str]:
    text = (REPO_ROOT / "Dockerfile").read_text()
    found = re.search(r"^CMD (\[.*\])$", text, re.MULTILINE)
    assert found, "the Dockerfile has no CMD in exec form"
    return list(yaml.safe_load(found.group(1)))


def procfile() -> dict[str, list[str]]:
    entries = {}
    for line in (REPO_ROOT / "Procfile").read_text().splitlines():
        if ":" in line and not line.startswith("#"):
            name, command = line.split(":", 1)
            # ${VAR:-default} → default: what runs when the platform sets nothing.
            command = re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", command)
            entries[name.strip()] = shlex.split(command)
    return entries


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def localised(command: list[str], *, port: int, var: Path) -> list[str]:
    """The compose command with loopback binding, frugal process counts and a local schedule."""
    replace = {"--bind": f"127.0.0.1:{port}", "--workers": "2", "-c": "1"}
    out: list[str] = []
    for index, arg in enumerate(command):
        previous = command[index - 1] if index else ""
        if previous in replace:
            out.append(replace[previous])
        elif previous == "-s" and "celerybeat-schedule" in arg:
            out.append(str(var / "celerybeat-schedule"))
        elif index == 0 and arg in ("python", "gunicorn", "celery"):
            out.append(sys.executable if arg == "python" else str(BIN / arg))
        else:
            out.append(arg)
    return out


@pytest.fixture
def stack_database() -> Iterator[str]:
    name = f"workroom_stack_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def production_env(stack_database: str, tmp_path: Path) -> dict[str, str]:
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    env = {
        "PATH": f"{BIN}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PYTHONPATH": str(REPO_ROOT),
        "PYTHONUNBUFFERED": "1",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "WORKROOM_ENCRYPTION_KEYS": f"k1:{Fernet.generate_key().decode()}",
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": stack_database,
        "REDIS_URL": redis_url,
        "WORKROOM_SSL_REDIRECT": "0",
        "WORKROOM_ALLOW_HTTP_LOOPBACK": "1",
        "WORKROOM_VAR_DIR": str(tmp_path / "var"),
        "WORKROOM_STATIC_ROOT": str(tmp_path / "static"),
        "WORKROOM_HEARTBEAT_KEY": f"workroom:stack-heartbeat:{uuid.uuid4().hex}",
        "WORKROOM_LOG_LEVEL": "INFO",
    }
    if cache := os.environ.get("WORKROOM_CACHE_URL"):
        env["WORKROOM_CACHE_URL"] = cache
    return env


@pytest.fixture
def processes(
    tmp_path: Path,
) -> Iterator[Callable[[str, list[str], dict[str, str]], Any]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(name: str, argv: list[str], env: dict[str, str]) -> Any:
        log = (tmp_path / f"{name}.log").open("wb")
        proc = subprocess.Popen(
            argv, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.send_signal(signal.SIGTERM)
    for proc in started:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run(argv: list[str], env: dict[str, str]) -> str:
    result = subprocess.run(
        argv, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"{argv}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


class Browser:
    """requests with its own cookie handling: the production cookies are Secure (__Host-)
    and this stack has no TLS, so requests' jar would never send them back."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.cookies: dict[str, str] = {}

    def _send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        response = requests.request(
            method,
            self.base + path,
            headers=headers,
            allow_redirects=False,
            timeout=30,
            **kwargs,
        )
        self.cookies.update({c.name: c.value or "" for c in response.cookies})
        return response

    def get(self, path: str) -> requests.Response:
        return self._send("GET", path)

    def post(self, path: str, data: dict[str, str]) -> requests.Response:
        page = self.get(path if path != "/logout/" else "/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        fields = dict(data)
        if token:
            fields["csrfmiddlewaretoken"] = token.group(1)
        return self._send("POST", path, data=fields)

    def post_with_token_from(self, page_path: str, path: str) -> requests.Response:
        page = self.get(page_path)
        token = re.search(r'"X-CSRFToken": "([^"]+)"', page.text) or re.search(
            r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text
        )
        assert token, f"no CSRF token on {page_path}"
        return self._send("POST", path, data={"csrfmiddlewaretoken": token.group(1)})


def wait_until(
    check: Callable[[], bool], seconds: float, what: str, logs: Path
) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    tails = "\n".join(
        f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
        for p in logs.glob("*.log")
    )
    pytest.fail(f"{what} did not happen in {seconds:.0f} s\n{tails}")


def test_the_compose_commands_run_a_working_production_stack(
    production_env: dict[str, str],
    processes: Any,
    emulator_factory: Callable[..., EmulatorServer],
    tmp_path: Path,
) -> None:
    started = time.monotonic()
    env = production_env
    emu = emulator_factory(seed="empty", speed=50.0)
    emu.pause_robots()
    process = emu.store.add_process("Stack Smoke", item_seconds=1.0, failure_rate=1.0)
    emu.store.create_run(process.id, payloads=[{"n": n} for n in range(3)])
    emu.advance(600)
    var = Path(env["WORKROOM_VAR_DIR"])
    port = _free_port()

    run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"], env)
    run(localised(compose_command("migrate"), port=port, var=var), env)
    run(
        [
            sys.executable,
            "manage.py",
            "bootstrap_demo",
            "--emulator-url",
            emu.url,
            "--username",
            "smoke",
            "--password",
            PASSWORD,
        ],
        env,
    )
    # Every worker service: each consumes one queue (sync, bulk, default).
    workers = [name for name in compose()["services"] if name.startswith("worker")]
    for service in ("web", *workers, "beat"):
        processes(service, localised(compose_command(service), port=port, var=var), env)

    base = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        answer = requests.get(base + "/healthz", timeout=5)
        return answer.status_code == 200 and answer.json()["status"] == "ok"

    wait_until(healthy, 60, "/healthz turning green", tmp_path)
    health = requests.get(base + "/healthz", timeout=5).json()
    assert all(check["ok"] for check in health["checks"].values()), health

    browser = Browser(base)
    assert browser.get("/login/").status_code == 200
    assert "Secure" in requests.get(base + "/login/", timeout=5).headers["Set-Cookie"]
    login = browser.post("/login/", {"username": "smoke", "password": PASSWORD})
    assert login.status_code == 302, login.text[:500]
    home = browser.get("/")
    assert home.status_code == 200 and "smoke" in home.text
    assert "no-store" in home.headers["Cache-Control"]
    workspace_id = re.search(r"/workspaces/(\d+)/", home.text)
    assert workspace_id, home.text[:2000]
    overview = f"/workspaces/{workspace_id.group(1)}/mirror/"
    synced = browser.post_with_token_from(overview, overview + "sync/")
    assert synced.status_code in (200, 202, 302), synced.text[:500]

    def items_listed() -> bool:
        page = browser.get("/items/?state=failed")
        return page.status_code == 200 and "Stack Smoke" in page.text

    wait_until(items_listed, 60, "the sync filling the item explorer", tmp_path)

    # Gunicorn's access log goes through the redactor: an invitation path is its token.
    token = "stack-canary-" + secrets.token_urlsafe(16)
    assert browser.get(f"/invitations/{token}/").status_code == 404
    web_log = tmp_path / "web.log"
    wait_until(
        lambda: "/invitations/[REDACTED]/" in web_log.read_text(),
        10,
        "the access log line",
        tmp_path,
    )
    assert token not in web_log.read_text()
    assert time.monotonic() - started < 120


def test_compose_dockerfile_and_procfile_run_the_same_commands() -> None:
    web = compose_command("web")
    assert dockerfile_cmd() == web
    entries = procfile()
    assert entries["web"] == web
    workers = [name for name in compose()["services"] if name.startswith("worker")]
    assert {"worker", "worker-sync", "worker-bulk"} <= set(workers)
    for name in workers:
        assert entries[name] == compose_command(name)
    queues = {
        compose_command(name)[compose_command(name).index("-Q") + 1] for name in workers
    }
    assert queues == {
        "celery",
        "sync",
        "bulk",
    }  # every queue of the settings has a worker
    beat = compose_command("beat")
    # The Procfile runs from the app directory (the image's WORKDIR /app).
    assert [
        a.replace("var/", "/app/var/") if a.startswith("var/") else a
        for a in entries["beat"]
    ] == beat
    assert compose_command("migrate") == ["python", "manage.py", "migrate", "--noinput"]


def test_the_settings_required_variables_are_provided() -> None:
    settings_source = (REPO_ROOT / "dashboard" / "settings.py").read_text()
    required = set(
        re.findall(
            r'"(\w+) (?:\(or \w+\) )?is required when DEBUG is off', settings_source
        )
    )
    assert required == {"SECRET_KEY", "WORKROOM_ENCRYPTION_KEYS", "ALLOWED_HOSTS"}
    app = compose()["x-app"]
    assert app["env_file"] == ".env"
    example = (REPO_ROOT / ".env.example").read_text()
    set_in_example = set(re.findall(r"^(\w+)=", example, re.MULTILINE))
    provided = set(app["environment"]) | set_in_example
    assert required <= provided, required - provided
    assert {"DATABASE_URL", "REDIS_URL"} <= set(app["environment"])
    # Every variable the settings read is documented (.env.example is what .env is made from).
    read = set(re.findall(r'env_\w+\(\s*ENV,\s*"(\w+)"', settings_source)) - {
        "WORKROOM_TEST_DB_NAME"  # test runs only
    }
    undocumented = {name for name in read if name not in example}
    assert undocumented == set()
    # The image builds its static files with throwaway values of exactly the required ones.
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    assert all(f"{name}=" in dockerfile for name in required)
