"""Log redaction: Control Room keys, Authorization headers and registered secrets never reach a log."""

from __future__ import annotations

import logging
import subprocess
import sys
import uuid

from dashboard.lib import redact
from dashboard.lib.redact import MASK, RedactingFilter, SqlSecretsFilter


def canary() -> str:
    return f"canary-{uuid.uuid4().hex}"


def test_it_masks_control_room_keys_and_authorization_headers():
    key = canary()
    samples = [
        f"Authorization: RC-WSKEY {key}",
        f"{{'Authorization': 'RC-WSKEY {key}', 'Accept': 'application/json'}}",
        f'{{"authorization": "Bearer {key}"}}',
        f"headers=Authorization={key}",
        f"GET /x?api_key={key}&limit=1",
        f"password: {key}",
        f"rc-wskey%20{key}",
    ]
    for sample in samples:
        masked = redact.redact(sample)
        assert key not in masked, sample
        assert MASK in masked
    assert redact.redact("Accept: application/json") == "Accept: application/json"


def test_registered_secrets_are_masked_wherever_they_appear():
    secret = canary()
    redact.register_secret(secret)
    assert (
        redact.redact(f"ValueError('{secret}') in {secret[:10]}")
        == f"ValueError('{MASK}') in {secret[:10]}"
    )
    redact.register_secret("abc")  # too short to mask safely: ignored
    assert redact.redact("abcdef") == "abcdef"


def test_the_filter_rewrites_message_args_and_tracebacks():
    secret = canary()
    redact.register_secret(secret)
    record_filter = RedactingFilter()
    try:
        raise RuntimeError(f"boom with {secret}")
    except RuntimeError:
        record = logging.LogRecord(
            "x",
            logging.ERROR,
            __file__,
            1,
            "calling %s with %r",
            ("url", {"Authorization": f"RC-WSKEY {secret}"}),
            sys.exc_info(),
        )
    assert record_filter.filter(record)
    text = logging.Formatter().format(record)
    assert secret not in text
    assert "RuntimeError" in text
    assert "calling url with" in text


CHILD = r"""
import logging, sys
import django
django.setup()
from dashboard.lib import redact
secret = sys.argv[1]
redact.register_secret(secret)
logging.getLogger("dashboard.workspaces.services").warning("decrypted %s for workspace 1", secret)
logging.getLogger("django.request").error("Internal Server Error: headers %s", {"Authorization": "RC-WSKEY " + secret})
logging.getLogger("celery.app.trace").error("Task failed with args %r", [secret])
logging.getLogger("urllib3.connectionpool").warning("Retrying with Authorization: RC-WSKEY %s", secret)
logging.getLogger().info("root: %s", secret)
try:
    raise ConnectionError("send failed: " + secret)
except ConnectionError:
    logging.getLogger("robocorp_api.client").exception("request failed")
print("done", flush=True)
"""


def test_the_configured_logging_never_prints_a_registered_secret(subprocess_env):
    secret = canary()
    result = subprocess.run(
        [sys.executable, "-c", CHILD, secret],
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert "done" in result.stdout
    for expected in [
        "decrypted [REDACTED]",
        "Internal Server Error",
        "Task failed",
        "Retrying",
        "root:",
        "ConnectionError",
    ]:
        assert expected in output
    assert secret not in output
    assert output.count(MASK) >= 6


def test_lazy_values_invitation_paths_and_session_sql_are_masked():
    lazy = redact.redact("{'csrf_token': <SimpleLazyObject: 'Zq81csrfvalue'>}")
    assert "Zq81csrfvalue" not in lazy and "SimpleLazyObject" in lazy
    path = redact.redact('path_info: "/invitations/tok3n-abcdef_123/"')
    assert "tok3n" not in path and "/invitations/[REDACTED]/" in path
    record = logging.LogRecord(
        "django.db.backends", logging.DEBUG, __file__, 1, "(%.3f) %s; args=%s", (), None
    )
    record.sql = (
        "SELECT 1 FROM \"django_session\" WHERE session_key = 'k3ysessionvalue'"
    )
    record.duration, record.params, record.alias = (
        0.001,
        ("k3ysessionvalue",),
        "default",
    )
    SqlSecretsFilter().filter(record)
    assert "k3ysessionvalue" not in record.getMessage()
    assert "django_session" in record.getMessage()
