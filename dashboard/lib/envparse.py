"""Typed readers of environment variables that fail with a one-line ImproperlyConfigured.

settings.py is the only caller; everything here takes the environment mapping explicitly so the
parsers can be tested without touching ``os.environ``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off", ""})
KEY_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


def env_str(environ: Mapping[str, str], name: str, default: str = "") -> str:
    """Return the stripped value of ``name`` or ``default`` when unset."""
    value = environ.get(name)
    return default if value is None else value.strip()


def env_bool(environ: Mapping[str, str], name: str, default: bool) -> bool:
    """Return ``name`` read as a boolean (1/0, true/false, yes/no, on/off)."""
    raw = environ.get(name)
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ImproperlyConfigured(
        f"{name}={raw!r} is not a boolean: use 1/0, true/false, yes/no or on/off."
    )


def env_int(
    environ: Mapping[str, str], name: str, default: int, *, minimum: int | None = None
) -> int:
    """Return ``name`` read as an integer, at least ``minimum`` when given."""
    raw = environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer.") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} must be at least {minimum}.")
    return value


def env_float(
    environ: Mapping[str, str],
    name: str,
    default: float,
    *,
    minimum: float | None = None,
) -> float:
    """Return ``name`` read as a number, at least ``minimum`` when given."""
    raw = environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a number.") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ImproperlyConfigured(f"{name}={raw!r} is not a finite number.")
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} must be at least {minimum}.")
    return value


def env_list(
    environ: Mapping[str, str], name: str, default: list[str] | None = None
) -> list[str]:
    """Return ``name`` split on commas, blanks dropped."""
    raw = environ.get(name)
    if raw is None:
        return list(default or [])
    return [part.strip() for part in raw.split(",") if part.strip()]


def env_secret(environ: Mapping[str, str], name: str) -> str:
    """Return the secret ``name``, read from the file named by ``NAME_FILE`` when that is set.

    The value itself never appears in an error message.
    """
    file_name = environ.get(f"{name}_FILE", "").strip()
    if file_name:
        path = Path(file_name)
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ImproperlyConfigured(
                f"{name}_FILE={file_name!r} cannot be read ({exc.strerror or type(exc).__name__})."
            ) from None
    return environ.get(name, "").strip()


def parse_encryption_keys(
    raw: str, *, name: str = "WORKROOM_ENCRYPTION_KEYS"
) -> list[tuple[str, str]]:
    """Return ``[(key_id, fernet_key), ...]`` from ``"k2:<fernet>,k1:<fernet>"``; the first is primary.

    Raises ImproperlyConfigured (naming the entry by position, never echoing a key) when an entry has
    no id, a bad id, a duplicate id or a value that is not a Fernet key.
    """
    from cryptography.fernet import Fernet

    entries = [part.strip() for part in raw.split(",") if part.strip()]
    if not entries:
        raise ImproperlyConfigured(
            f"{name} is empty: expected 'key_id:fernet_key[,key_id:fernet_key...]'."
        )
    keys: list[tuple[str, str]] = []
    seen: set[str] = set()
    for position, entry in enumerate(entries, start=1):
        key_id, sep, key = entry.partition(":")
        key_id, key = key_id.strip(), key.strip()
        if not sep or not key:
            raise ImproperlyConfigured(
                f"{name} entry {position} must look like 'key_id:fernet_key'."
            )
        if not KEY_ID_RE.match(key_id):
            raise ImproperlyConfigured(
                f"{name} entry {position}: key id {key_id!r} must be 1-32 letters, digits, '_' or '-'."
            )
        if key_id in seen:
            raise ImproperlyConfigured(
                f"{name} entry {position}: key id {key_id!r} is used twice."
            )
        try:
            Fernet(key.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            raise ImproperlyConfigured(
                f"{name} entry {position} (key id {key_id!r}) is not a valid Fernet key "
                "(32 url-safe base64-encoded bytes; see 'manage.py generate_encryption_key')."
            ) from None
        seen.add(key_id)
        keys.append((key_id, key))
    return keys
