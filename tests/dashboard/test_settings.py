"""Settings parsing: one env-driven module that refuses bad or missing values with one clear line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from dashboard.lib.envparse import (
    env_bool,
    env_int,
    env_list,
    env_secret,
    parse_encryption_keys,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
PROBE = (
    "import json, django; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({'DEBUG': s.DEBUG, 'ENGINE': s.DATABASES['default']['ENGINE'], "
    "'DB_NAME': str(s.DATABASES['default']['NAME']), 'OPTIONS': s.DATABASES['default'].get('OPTIONS', {}), "
    "'KEY_IDS': [k for k, _ in s.WORKROOM_ENCRYPTION_KEYS], 'CACHE': s.CACHES['default']['LOCATION'], "
    "'BROKER': s.CELERY_BROKER_URL, 'SSL_REDIRECT': s.SECURE_SSL_REDIRECT, "
    "'SESSION_COOKIE_NAME': s.SESSION_COOKIE_NAME, 'HTTP_LOOPBACK': s.WORKROOM_ALLOW_HTTP_LOOPBACK, "
    "'SECRET_KEY_LEN': len(s.SECRET_KEY), 'ALLOWED_HOSTS': s.ALLOWED_HOSTS, "
    "'PROXY_HEADER': getattr(s, 'SECURE_PROXY_SSL_HEADER', None), 'HSTS': s.SECURE_HSTS_SECONDS}))"
)


def prod_env(**extra: str) -> dict[str, str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": "/tmp",
        "DJANGO_SETTINGS_MODULE": "dashboard.settings",
        "PYTHONPATH": str(REPO_ROOT),
        "SECRET_KEY": "x" * 60,
        "WORKROOM_ENCRYPTION_KEYS": f"k1:{Fernet.generate_key().decode()}",
        "ALLOWED_HOSTS": "workroom.example.com",
    }
    env.update(extra)
    return {k: v for k, v in env.items() if v != "<unset>"}


def run_probe(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PROBE],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def run_manage_check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def probe(env: dict[str, str]) -> dict[str, object]:
    result = run_probe(env)
    assert result.returncode == 0, result.stderr
    value: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return value


def test_it_loads_production_settings_with_secure_defaults():
    values = probe(prod_env())
    assert values["DEBUG"] is False
    assert values["SSL_REDIRECT"] is True
    assert values["SESSION_COOKIE_NAME"] == "__Host-sessionid"
    assert values["HTTP_LOOPBACK"] is False
    assert values["HSTS"] == 31_536_000
    assert values["KEY_IDS"] == ["k1"]
    assert values["ENGINE"] == "django.db.backends.sqlite3"
    assert str(values["DB_NAME"]).endswith("var/db.sqlite3")
    assert values["OPTIONS"] == {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    assert values["BROKER"] == "redis://127.0.0.1:6379/0"
    assert values["CACHE"] == "redis://127.0.0.1:6379/1"
    assert values["PROXY_HEADER"] is None


def test_it_uses_development_defaults_when_workroom_dev_is_set():
    values = probe(
        prod_env(
            SECRET_KEY="<unset>",
            WORKROOM_ENCRYPTION_KEYS="<unset>",
            ALLOWED_HOSTS="<unset>",
            WORKROOM_DEV="1",
        )
    )
    assert values["DEBUG"] is True
    assert values["KEY_IDS"] == ["dev"]
    assert values["SSL_REDIRECT"] is False
    assert values["SESSION_COOKIE_NAME"] == "sessionid"
    assert values["HTTP_LOOPBACK"] is True
    assert "localhost" in values["ALLOWED_HOSTS"]  # type: ignore[operator]


def test_it_reads_database_redis_and_proxy_from_env():
    values = probe(
        prod_env(
            DATABASE_URL="postgres://wr:pw@db.internal:5433/workroom",
            REDIS_URL="redis://cache.internal:6380/4",
            WORKROOM_BEHIND_TLS_PROXY="yes",
        )
    )
    assert values["ENGINE"] == "django.db.backends.postgresql"
    assert values["DB_NAME"] == "workroom"
    assert values["BROKER"] == "redis://cache.internal:6380/4"
    assert values["CACHE"] == "redis://cache.internal:6380/5"
    assert values["PROXY_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]


def test_it_reads_secrets_from_files(tmp_path):
    secret_file = tmp_path / "secret_key"
    secret_file.write_text("s" * 70 + "\n")
    keys_file = tmp_path / "keys"
    keys_file.write_text(
        f"k9:{Fernet.generate_key().decode()},k8:{Fernet.generate_key().decode()}\n"
    )
    values = probe(
        prod_env(
            SECRET_KEY="<unset>",
            SECRET_KEY_FILE=str(secret_file),
            WORKROOM_ENCRYPTION_KEYS="<unset>",
            WORKROOM_ENCRYPTION_KEYS_FILE=str(keys_file),
        )
    )
    assert values["SECRET_KEY_LEN"] == 70
    assert values["KEY_IDS"] == ["k9", "k8"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"SECRET_KEY": "<unset>"},
            "SECRET_KEY (or SECRET_KEY_FILE) is required when DEBUG is off",
        ),
        (
            {"WORKROOM_ENCRYPTION_KEYS": "<unset>"},
            "WORKROOM_ENCRYPTION_KEYS (or WORKROOM_ENCRYPTION_KEYS_FILE) is required",
        ),
        ({"ALLOWED_HOSTS": "<unset>"}, "ALLOWED_HOSTS is required when DEBUG is off"),
        ({"WORKROOM_DEV": "maybe"}, "WORKROOM_DEV='maybe' is not a boolean"),
        (
            {"WORKROOM_MAX_UPLOAD_MB": "lots"},
            "WORKROOM_MAX_UPLOAD_MB='lots' is not an integer",
        ),
        (
            {"WORKROOM_INVITATION_TTL_HOURS": "0"},
            "WORKROOM_INVITATION_TTL_HOURS=0 must be at least 1",
        ),
        ({"DATABASE_URL": "mysqlx://nope"}, "DATABASE_URL is not a supported URL"),
        (
            {"REDIS_URL": "http://127.0.0.1:6379"},
            "REDIS_URL must look like redis://host:port/db",
        ),
        (
            {"SECRET_KEY_FILE": "/nonexistent/secret"},
            "SECRET_KEY_FILE='/nonexistent/secret' cannot be read",
        ),
        (
            {"WORKROOM_ENCRYPTION_KEYS": "k1:not-a-fernet-key"},
            "entry 1 (key id 'k1') is not a valid Fernet key",
        ),
    ],
)
def test_it_refuses_bad_configuration_with_one_line(overrides, message):
    result = run_manage_check(prod_env(**overrides))
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    error_lines = [
        line
        for line in result.stderr.splitlines()
        if line.startswith("Configuration error:")
    ]
    assert len(error_lines) == 1


def test_a_bad_encryption_key_is_never_echoed():
    secretish = "k1:" + "A" * 40
    result = run_manage_check(prod_env(WORKROOM_ENCRYPTION_KEYS=secretish))
    assert result.returncode == 2
    assert "A" * 40 not in result.stderr


# ---- the parsers themselves --------------------------------------------------------------------


def test_env_bool_accepts_the_usual_words():
    for word, expected in [
        ("1", True),
        ("yes", True),
        ("ON", True),
        ("0", False),
        ("off", False),
        ("", False),
    ]:
        assert env_bool({"X": word}, "X", default=not expected) is expected
    assert env_bool({}, "X", default=True) is True
    with pytest.raises(ImproperlyConfigured, match="X='2' is not a boolean"):
        env_bool({"X": "2"}, "X", default=False)


def test_env_int_and_list():
    assert env_int({"N": " 7 "}, "N", 1) == 7
    assert env_int({}, "N", 3) == 3
    with pytest.raises(ImproperlyConfigured, match="must be at least 5"):
        env_int({"N": "4"}, "N", 10, minimum=5)
    assert env_list({"L": "a, b,,c "}, "L") == ["a", "b", "c"]
    assert env_list({}, "L", ["x"]) == ["x"]


def test_env_secret_prefers_the_file(tmp_path):
    path = tmp_path / "s"
    path.write_text("from-file\n")
    assert env_secret({"S": "inline", "S_FILE": str(path)}, "S") == "from-file"
    assert env_secret({"S": " inline "}, "S") == "inline"
    assert env_secret({}, "S") == ""


def test_parse_encryption_keys_keeps_order_and_rejects_mistakes():
    k1, k2 = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    assert parse_encryption_keys(f"new:{k2}, old:{k1}") == [("new", k2), ("old", k1)]
    for raw, fragment in [
        ("", "is empty"),
        (k1, "must look like 'key_id:fernet_key'"),
        (f"bad id:{k1}", "key id 'bad id' must be 1-32"),
        (f"a:{k1},a:{k2}", "key id 'a' is used twice"),
        ("a:short", "not a valid Fernet key"),
    ]:
        with pytest.raises(ImproperlyConfigured, match=fragment):
            parse_encryption_keys(raw)
