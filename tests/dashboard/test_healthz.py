"""/healthz: database, Redis and worker heartbeat, against the real Redis (and a real worker)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from dashboard.lib import heartbeat as hb
from dashboard.tasks import heartbeat
from tests.dashboard.support.redis_server import PrivateRedis
from tests.dashboard.support.workers import celery_worker_argv

pytestmark = pytest.mark.django_db


def get_health(client: Client) -> tuple[Any, dict[str, Any]]:
    response = client.get(reverse("healthz"))
    assert response["Content-Type"] == "application/json"
    return response, response.json()


def test_it_is_ok_with_a_fresh_heartbeat(client, redis_client, heartbeat_key):
    heartbeat.apply()  # the task body, in-process: writes the real Redis key
    response, body = get_health(client)
    assert response.status_code == 200
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["redis"]["ok"] is True
    worker = body["checks"]["worker"]
    assert worker["ok"] is True
    assert worker["age_s"] < 5
    assert datetime.fromisoformat(worker["last_heartbeat"]) > datetime.now(
        tz=UTC
    ) - timedelta(seconds=5)


def test_it_is_degraded_with_a_stale_heartbeat(client, redis_client, heartbeat_key):
    stale = datetime.now(tz=UTC) - timedelta(
        seconds=settings.WORKROOM_HEARTBEAT_MAX_AGE + 60
    )
    hb.write(redis_client, heartbeat_key, now=stale)
    response, body = get_health(client)
    assert response.status_code == 503
    assert body["status"] == "degraded"
    assert body["checks"]["redis"]["ok"] is True
    assert body["checks"]["worker"]["ok"] is False
    assert body["checks"]["worker"]["age_s"] >= settings.WORKROOM_HEARTBEAT_MAX_AGE + 60


def test_it_is_degraded_without_any_heartbeat(client, redis_client, heartbeat_key):
    response, body = get_health(client)
    assert response.status_code == 503
    assert body["checks"]["worker"] == {
        "ok": False,
        "last_heartbeat": None,
        "age_s": None,
    }


def test_it_is_degraded_when_redis_is_unreachable(client, settings, closed_port):
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port}/0"
    started = time.monotonic()
    response, body = get_health(client)
    assert time.monotonic() - started < 5
    assert response.status_code == 503
    assert body["status"] == "degraded"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["redis"] == {"ok": False, "error": "ConnectionError"}
    assert body["checks"]["worker"]["ok"] is False
    assert str(closed_port) not in response.content.decode()


def test_it_needs_no_login_and_leaks_no_settings(client, redis_client, heartbeat_key):
    heartbeat.apply()
    response, body = get_health(client)
    text = response.content.decode()
    assert set(body) == {"status", "checks"}
    assert set(body["checks"]) == {"database", "redis", "worker"}
    for leak in [
        settings.SECRET_KEY,
        settings.REDIS_URL,
        str(settings.DATABASES["default"]["NAME"]),
    ]:
        assert leak not in text
    assert response["Cache-Control"].startswith("max-age=0")


def test_it_rejects_post(client):
    assert client.post(reverse("healthz")).status_code == 405


@pytest.mark.worker
@pytest.mark.slow
def test_a_real_worker_with_beat_keeps_the_heartbeat_fresh(
    client, settings, subprocess_env, heartbeat_key, redis_client, tmp_path
):
    # A redis-server of its own as broker, so neither a dev worker on this machine nor a worker
    # of another test running in parallel (pytest-xdist) can take its beat's tasks.
    server = PrivateRedis(tmp_path)
    server.start()
    broker = server.url
    settings.REDIS_URL = broker
    env = {
        **subprocess_env,
        "REDIS_URL": broker,
        "WORKROOM_HEARTBEAT_KEY": heartbeat_key,
        "WORKROOM_HEARTBEAT_INTERVAL": "1",
    }
    worker = subprocess.Popen(
        celery_worker_argv(
            "-B",
            "-l",
            "info",
            "-c",
            "1",
            "-s",
            str(tmp_path / "beat-schedule"),
            "-n",
            f"test-{os.getpid()}@%h",
        ),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 45
        body: dict[str, Any] = {}
        while time.monotonic() < deadline:
            response = client.get(reverse("healthz"))
            body = json.loads(response.content)
            if response.status_code == 200:
                break
            time.sleep(0.5)
        assert body.get("status") == "ok", body
        first = body["checks"]["worker"]["last_heartbeat"]
        time.sleep(2.5)
        later = client.get(reverse("healthz")).json()["checks"]["worker"][
            "last_heartbeat"
        ]
        assert later > first  # beat keeps ticking, the worker keeps writing
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
        output = worker.stdout.read() if worker.stdout else ""
        server.stop()
        redis_client.connection_pool.reset()
        if sys.exc_info()[0] is not None:
            print(output[-4000:])
