"""Settings parsing: one env-driven module that refuses bad or missing values with one clear line."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
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
        (
            {"WORKROOM_BULK_CHUNK_SIZE": "0"},
            "WORKROOM_BULK_CHUNK_SIZE=0 must be at least 1",
        ),
        (
            {"WORKROOM_SYNC_READ_TIMEOUT": "soon"},
            "WORKROOM_SYNC_READ_TIMEOUT='soon' is not a number",
        ),
        (
            {"WORKROOM_SYNC_TIME_BUDGET": "300"},
            "WORKROOM_SYNC_TIME_BUDGET=300 must be below the sync task's soft time limit",
        ),
        (
            {"WORKROOM_BULK_CHUNK_TIME_LIMIT": "100"},
            "WORKROOM_BULK_CHUNK_SOFT_TIME_LIMIT must be below WORKROOM_BULK_CHUNK_TIME_LIMIT",
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


DERIVED_PROBE = (
    "import json, django; django.setup(); from django.conf import settings as s; "
    "print(json.dumps([s.WORKROOM_SYNC_LEASE_SECONDS, s.WORKROOM_SYNC_TIME_BUDGET, "
    "s.WORKROOM_BULK_LEASE_SECONDS, s.WORKROOM_BULK_QUEUE, s.WORKROOM_SYNC_RETRY_BASE]))"
)


def derived(env: dict[str, str]) -> list[object]:
    result = subprocess.run(
        [sys.executable, "-c", DERIVED_PROBE],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    value: list[object] = json.loads(result.stdout.strip().splitlines()[-1])
    return value


def test_derived_defaults_follow_the_task_limits_and_the_environment_wins():
    # Sync lease: hard limit 330 + 30; time budget: soft limit 300 - 30; bulk lease: chunk limit + 30.
    # Bulk chunks go to their own queue by default (a flood of syncs never starves them).
    assert derived(prod_env()) == [360, 270, 180, "bulk", 5.0]
    assert derived(prod_env(WORKROOM_BULK_CHUNK_TIME_LIMIT="200")) == [
        360,
        270,
        230,
        "bulk",
        5.0,
    ]
    assert derived(
        prod_env(
            WORKROOM_SYNC_LEASE_SECONDS="3",
            WORKROOM_SYNC_TIME_BUDGET="20",
            WORKROOM_BULK_LEASE_SECONDS="4",
            WORKROOM_BULK_QUEUE="bulk-q",
            WORKROOM_SYNC_RETRY_BASE="0",
        )
    ) == [3, 20, 4, "bulk-q", 0.0]


# ---- every tunable read once, in settings.py, and documented ----------------------------------

# Settings computed in settings.py from others, not read from the environment.
DERIVED_WORKROOM_SETTINGS = {"WORKROOM_USING_DEV_ENCRYPTION_KEY"}


def variables_read_by_settings() -> set[str]:
    """The names settings.py passes to the env_* readers (the only reader of the environment)."""
    tree = ast.parse((REPO_ROOT / "dashboard" / "settings.py").read_text())
    return {
        node.args[1].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id.startswith("env_")
        and len(node.args) >= 2
        and isinstance(node.args[0], ast.Name)
        and node.args[0].id == "ENV"
        and isinstance(node.args[1], ast.Constant)
        and isinstance(node.args[1].value, str)
    }


def variables_in_env_example() -> set[str]:
    """Every `NAME=` of .env.example, set or commented out (`# NAME=default   # comment`)."""
    text = (REPO_ROOT / ".env.example").read_text()
    return set(re.findall(r"^(?:#\s*)?([A-Z][A-Z0-9_]*)=", text, re.MULTILINE))


def test_env_example_lists_exactly_the_variables_settings_read():
    read = variables_read_by_settings()
    documented = variables_in_env_example()
    assert len(read) > 60  # the parse found the readers
    assert read - documented == set(), "read by settings.py, missing in .env.example"
    assert documented - read == set(), "in .env.example, never read by settings.py"


def test_every_workroom_setting_is_read_from_a_documented_variable():
    workroom = {name for name in dir(settings) if name.startswith("WORKROOM_")}
    assert "WORKROOM_BULK_CHUNK_SIZE" in workroom
    assert workroom - DERIVED_WORKROOM_SETTINGS - variables_read_by_settings() == set()
    assert workroom - DERIVED_WORKROOM_SETTINGS - variables_in_env_example() == set()


def _reads_of_the_environment_or_defaulted_settings(tree: ast.AST) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in {"environ", "getenv"}:
            if isinstance(node.value, ast.Name) and node.value.id == "os":
                lines.append(node.lineno)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "getattr"
            and node.args
            and isinstance(node.args[0], ast.Name)
            and node.args[0].id == "settings"
        ):
            lines.append(node.lineno)
    return lines


def test_apps_read_settings_never_the_environment_nor_getattr_defaults():
    offenders = []
    for path in sorted((REPO_ROOT / "dashboard").rglob("*.py")):
        if path.name == "settings.py" and path.parent.name == "dashboard":
            continue
        source = path.read_text()
        source_lines = source.splitlines()
        for line in _reads_of_the_environment_or_defaulted_settings(ast.parse(source)):
            text = source_lines[line - 1].strip()
            # Entry points (asgi, wsgi, celery) name the settings module, as Django's do.
            if text.startswith('os.environ.setdefault("DJANGO_SETTINGS_MODULE"'):
                continue
            offenders.append(f"{path.relative_to(REPO_ROOT)}:{line}: {text}")
    assert offenders == []


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
