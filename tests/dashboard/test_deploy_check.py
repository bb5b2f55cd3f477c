"""`manage.py check --deploy --fail-level WARNING` is clean with production settings."""

from __future__ import annotations

import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

REPO_ROOT = Path(__file__).resolve().parents[2]


def production_env(**extra: str) -> dict[str, str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": "/tmp",
        "PYTHONPATH": str(REPO_ROOT),
        "SECRET_KEY": secrets.token_urlsafe(64),
        "WORKROOM_ENCRYPTION_KEYS": f"k1:{Fernet.generate_key().decode()}",
        "ALLOWED_HOSTS": "workroom.example.com",
        "CSRF_TRUSTED_ORIGINS": "https://workroom.example.com",
    }
    env.update(extra)
    return env


def deploy_check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_deploy_check_is_clean_in_production():
    result = deploy_check(production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_it_is_clean_behind_a_tls_proxy_and_on_postgresql():
    result = deploy_check(
        production_env(
            WORKROOM_BEHIND_TLS_PROXY="1",
            DATABASE_URL="postgres://postgres@127.0.0.1:5432/test",
        )
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("extra", "check_id"),
    [
        ({"WORKROOM_SSL_REDIRECT": "0"}, "security.W008"),
        ({"WORKROOM_HSTS_SECONDS": "0"}, "security.W004"),
        ({"SECRET_KEY": "short"}, "security.W009"),
        ({"DEBUG": "1"}, "security.W018"),
    ],
)
def test_it_fails_when_a_protection_is_turned_off(extra, check_id):
    result = deploy_check(production_env(**extra))
    assert result.returncode != 0
    assert check_id in result.stdout + result.stderr
