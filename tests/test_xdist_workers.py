"""pytest-xdist workers get Redis databases of their own (tests/conftest.py), in their environment
(what the Celery workers and manage.py they start inherit) and in their settings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import redis_url_shifted, worker_redis_env

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_a_shifted_url_keeps_everything_but_the_database():
    assert (
        redis_url_shifted("redis://127.0.0.1:6379/0", 2) == "redis://127.0.0.1:6379/2"
    )
    assert (
        redis_url_shifted("rediss://:pw@cache.internal:6380/5?timeout=3", 4)
        == "rediss://:pw@cache.internal:6380/9?timeout=3"
    )
    assert redis_url_shifted("redis://127.0.0.1:6379", 6) == "redis://127.0.0.1:6379/6"


def test_worker_k_moves_the_broker_and_an_explicit_cache_up_by_2k(
    settings, monkeypatch
):
    settings.REDIS_URL = "redis://127.0.0.1:6379/4"
    monkeypatch.delenv("WORKROOM_CACHE_URL", raising=False)
    assert worker_redis_env(0) == {"REDIS_URL": "redis://127.0.0.1:6379/4"}
    assert worker_redis_env(3) == {"REDIS_URL": "redis://127.0.0.1:6379/10"}
    monkeypatch.setenv("WORKROOM_CACHE_URL", "redis://127.0.0.1:6379/1")
    assert worker_redis_env(3) == {
        "REDIS_URL": "redis://127.0.0.1:6379/10",
        "WORKROOM_CACHE_URL": "redis://127.0.0.1:6379/7",
    }


@pytest.mark.slow
def test_each_xdist_worker_has_its_own_broker_and_cache_in_env_and_settings(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.pop("WORKROOM_CACHE_URL", None)
    env.update(
        {"REDIS_URL": "redis://127.0.0.1:6379/2", "XDIST_PROBE_DIR": str(tmp_path)}
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/xdist_probe.py",
            "-n",
            "2",
            "-q",
            "-p",
            "no:randomly",
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    seen = {p.stem: json.loads(p.read_text()) for p in tmp_path.glob("gw*.json")}
    assert seen == {
        "gw0": {
            "env": "redis://127.0.0.1:6379/2",
            "env_cache": None,
            "broker": "redis://127.0.0.1:6379/2",
            "cache": "redis://127.0.0.1:6379/3",
        },
        "gw1": {
            "env": "redis://127.0.0.1:6379/4",
            "env_cache": None,
            "broker": "redis://127.0.0.1:6379/4",
            "cache": "redis://127.0.0.1:6379/5",
        },
    }
