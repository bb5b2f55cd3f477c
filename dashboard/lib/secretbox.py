"""Encrypt secrets at rest with Fernet, tagged with the id of the key that sealed them.

Stored format: ``v1:fernet:<key_id>:<fernet token>``. The plaintext is sealed inside a JSON envelope
``{"c": context, "v": plaintext}`` so a ciphertext copied into another row (another context) fails to
open: Fernet has no associated data of its own. Decryption fails closed with SecretUnavailable, whose
message never contains the plaintext or the key.

Keys come from ``settings.WORKROOM_ENCRYPTION_KEYS``: ``[(key_id, fernet_key), ...]``, the first is the
primary (encrypts), all of them decrypt. Why Fernet: see docs/security.md.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings

PREFIX = "v1:fernet:"


class SecretUnavailable(Exception):
    """The stored secret cannot be decrypted (unknown key, tampered, malformed or wrong context)."""


def generate_key() -> str:
    """Return a new random Fernet key (url-safe base64 text)."""
    return Fernet.generate_key().decode("ascii")


def _keys() -> Sequence[tuple[str, str]]:
    keys: Sequence[tuple[str, str]] = settings.WORKROOM_ENCRYPTION_KEYS
    return keys


def _fernet(key_id: str) -> Fernet:
    for candidate_id, key in _keys():
        if candidate_id == key_id:
            return Fernet(key.encode("ascii"))
    raise SecretUnavailable(f"encryption key {key_id!r} is not configured")


def primary_key_id() -> str:
    """Return the id of the key new ciphertexts are sealed with."""
    return _keys()[0][0]


def _split(token: object) -> tuple[str, str]:
    if not isinstance(token, str) or not token.startswith(PREFIX):
        raise SecretUnavailable(
            "not a Workroom ciphertext (expected 'v1:fernet:<key_id>:<token>')"
        )
    key_id, sep, body = token[len(PREFIX) :].partition(":")
    if not sep or not key_id or not body:
        raise SecretUnavailable("malformed Workroom ciphertext")
    return key_id, body


def key_id_of(token: str) -> str:
    """Return the id of the key that sealed ``token``."""
    return _split(token)[0]


def encrypt(plaintext: str, *, context: str) -> str:
    """Return ``plaintext`` sealed under the primary key and bound to ``context``."""
    key_id = primary_key_id()
    envelope = json.dumps({"c": context, "v": plaintext}, separators=(",", ":"))
    body = _fernet(key_id).encrypt(envelope.encode("utf-8")).decode("ascii")
    return f"{PREFIX}{key_id}:{body}"


def decrypt(token: str, *, context: str) -> str:
    """Return the plaintext sealed in ``token`` for ``context``.

    Raises:
        SecretUnavailable: unknown key id, malformed or tampered token, or a context mismatch.
    """
    key_id, body = _split(token)
    try:
        raw = _fernet(key_id).decrypt(body.encode("ascii"))
    except (InvalidToken, UnicodeEncodeError):
        raise SecretUnavailable(
            f"ciphertext does not open with key {key_id!r}"
        ) from None
    try:
        envelope = json.loads(raw)
    except ValueError:
        raise SecretUnavailable("decrypted envelope is not JSON") from None
    if not isinstance(envelope, dict) or not isinstance(envelope.get("v"), str):
        raise SecretUnavailable("decrypted envelope has an unexpected shape")
    if envelope.get("c") != context:
        raise SecretUnavailable(
            "ciphertext belongs to another record (context mismatch)"
        )
    value: str = envelope["v"]
    return value


def needs_rotation(token: str) -> bool:
    """Return True when ``token`` is not sealed with the primary key."""
    return key_id_of(token) != primary_key_id()


def rotate(token: str, *, context: str) -> str:
    """Return ``token`` re-sealed under the primary key (unchanged if it already is).

    Raises:
        SecretUnavailable: as ``decrypt``; a token that cannot be opened is never rewritten.
    """
    plaintext = decrypt(token, context=context)
    if not needs_rotation(token):
        return token
    return encrypt(plaintext, context=context)
