"""Not collected by a normal run (no test_ prefix): tests/test_xdist_workers.py runs it under
pytest-xdist, and each test records what its worker's environment and settings say."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from django.conf import settings


@pytest.mark.parametrize("n", range(6))
def test_records_the_workers_redis(n: int) -> None:
    worker = os.environ["PYTEST_XDIST_WORKER"]
    record = {
        "env": os.environ["REDIS_URL"],
        "env_cache": os.environ.get("WORKROOM_CACHE_URL"),
        "broker": settings.CELERY_BROKER_URL,
        "cache": settings.CACHES["default"]["LOCATION"],
    }
    out = Path(os.environ["XDIST_PROBE_DIR"]) / f"{worker}.json"
    out.write_text(json.dumps(record))
