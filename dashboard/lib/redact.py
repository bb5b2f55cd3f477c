"""Mask secrets in log records: Control Room keys, Authorization headers and registered values.

``register_secret(value)`` is called wherever a secret is decrypted, so the exact value is masked
even when it shows up in an unexpected place (a repr, an exception text, a URL).
"""

from __future__ import annotations

import logging
import re
import threading

MASK = "[REDACTED]"
MIN_SECRET_LENGTH = 6
MAX_REGISTERED = 10_000

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(RC-WSKEY)(\s+|%20|\+)[^\s'\",;}\]]+", re.IGNORECASE), rf"\1 {MASK}"),
    (
        re.compile(
            r"((?:proxy-)?authorization['\"]?\s*[:=]\s*['\"]?)[^'\"\r\n,}]+",
            re.IGNORECASE,
        ),
        rf"\1{MASK}",
    ),
    (
        re.compile(
            r"((?:api[_-]?key|password|passwd|secret|token|cookie|sessionid)['\"]?\s*[:=]\s*"
            # A lazy value's repr (<SimpleLazyObject: 'abc'>) names its type first: mask the value.
            r"(?:<[\w.]+:\s*)?['\"]?)"
            r"[^\s'\"&,;}]+",
            re.IGNORECASE,
        ),
        rf"\1{MASK}",
    ),
    # A Workroom API token anywhere (wr_<public prefix>_<secret>): keep the prefix, which names
    # the token on its page, mask the secret.
    (re.compile(r"\b(wr_[0-9a-f]{8}_)[A-Za-z0-9_-]{20,}"), rf"\1{MASK}"),
)

# One-time invitation links (/invitations/<token>/): logged as a request path by django.request,
# django-axes (a log-in while accepting) and access logs.
INVITATION_PATH = re.compile(r"(/invitations/)(?!\[REDACTED\])[^/\s'\"?#]+")

_lock = threading.Lock()
_secrets: set[str] = set()
_secret_re: re.Pattern[str] | None = None


def register_secret(value: str) -> None:
    """Mask every later occurrence of ``value`` in log output (short values are ignored)."""
    global _secret_re
    if len(value) < MIN_SECRET_LENGTH:
        return
    with _lock:
        if value in _secrets:
            return
        if len(_secrets) >= MAX_REGISTERED:
            _secrets.clear()
        _secrets.add(value)
        # Longest first so a secret containing another is masked whole.
        alternatives = sorted(_secrets, key=len, reverse=True)
        _secret_re = re.compile("|".join(re.escape(s) for s in alternatives))


def redact(text: str) -> str:
    """Return ``text`` with known secret shapes and registered secrets masked."""
    pattern = _secret_re
    if pattern is not None:
        text = pattern.sub(MASK, text)
    for regex, replacement in _PATTERNS:
        text = regex.sub(replacement, text)
    return INVITATION_PATH.sub(rf"\1{MASK}", text)


class RedactingFilter(logging.Filter):
    """A handler filter that rewrites the record's message and exception text, redacted."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad %-format must not hide the record
            message = f"{record.msg!r} {record.args!r}"
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_SQL_LITERAL = re.compile(r"'(?:[^']|'')*'|\\x[0-9a-f]+", re.IGNORECASE)
# Tables and columns whose values are credentials: session keys and data, password hashes.
_SECRET_SQL = re.compile(r"django_session|\"password\"|session_key", re.IGNORECASE)


class SqlSecretsFilter(logging.Filter):
    """Masks the values of SQL statements (DEBUG on) that touch sessions or password hashes.

    ``django.db.backends`` logs each statement with its parameters inlined; a session key in a
    log line is as good as the session cookie.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        sql = str(getattr(record, "sql", "") or "")
        if not _SECRET_SQL.search(sql):
            return True
        masked = _SQL_LITERAL.sub("'[REDACTED]'", sql)
        record.sql = masked
        record.params = MASK
        record.msg = "(%.3f) %s; args=%s; alias=%s"
        record.args = (
            float(getattr(record, "duration", 0.0) or 0.0),
            masked,
            MASK,
            getattr(record, "alias", ""),
        )
        return True
