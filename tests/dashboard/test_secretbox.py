"""secretbox: Fernet with key ids, bound to a context, failing closed, rotatable."""

from __future__ import annotations

import base64

import pytest
from cryptography.fernet import Fernet

from dashboard.lib import secretbox
from dashboard.lib.secretbox import SecretUnavailable

K1 = Fernet.generate_key().decode()
K2 = Fernet.generate_key().decode()
PLAINTEXTS = [
    "",
    "a",
    "RC-WSKEY-like value 0123456789",
    "ünïcødé ✓ ключ",
    '{"json": ["inside"]}',
    "x" * 5000,
]


@pytest.fixture
def one_key(settings):
    settings.WORKROOM_ENCRYPTION_KEYS = [("k1", K1)]


@pytest.fixture
def two_keys(settings):
    settings.WORKROOM_ENCRYPTION_KEYS = [("k2", K2), ("k1", K1)]


def test_it_round_trips_and_tags_the_primary_key(one_key):
    for plaintext in PLAINTEXTS:
        token = secretbox.encrypt(plaintext, context="ws:1")
        assert token.startswith("v1:fernet:k1:")
        assert secretbox.key_id_of(token) == "k1"
        assert secretbox.decrypt(token, context="ws:1") == plaintext
        if len(plaintext) > 3:
            assert plaintext not in token


def test_each_encryption_is_different(one_key):
    assert secretbox.encrypt("same", context="c") != secretbox.encrypt(
        "same", context="c"
    )


def test_a_ciphertext_moved_to_another_row_does_not_open(one_key):
    token = secretbox.encrypt("team A's key", context="ws:1")
    with pytest.raises(SecretUnavailable, match="context mismatch") as err:
        secretbox.decrypt(token, context="ws:2")
    assert "team A" not in str(err.value)


def test_unknown_key_id_fails_closed(one_key, settings):
    token = secretbox.encrypt("secret-value-123", context="c")
    settings.WORKROOM_ENCRYPTION_KEYS = [("k2", K2)]
    with pytest.raises(SecretUnavailable, match="'k1' is not configured"):
        secretbox.decrypt(token, context="c")


def test_a_wrong_key_under_the_same_id_fails_closed(one_key, settings):
    token = secretbox.encrypt("secret-value-123", context="c")
    settings.WORKROOM_ENCRYPTION_KEYS = [("k1", K2)]
    with pytest.raises(SecretUnavailable, match="does not open"):
        secretbox.decrypt(token, context="c")


@pytest.mark.parametrize(
    "token",
    [
        "",
        "plaintext-api-key",
        "v1:fernet:",
        "v1:fernet:k1",
        "v1:fernet:k1:",
        "v1:fernet::abc",
        "v2:fernet:k1:abc",
        "v1:fernet:k1:not-a-token",
        "v1:fernet:k1:ünicode",
    ],
)
def test_malformed_tokens_fail_closed(one_key, token):
    with pytest.raises(SecretUnavailable):
        secretbox.decrypt(token, context="c")


def test_tampering_with_any_byte_is_detected(one_key):
    token = secretbox.encrypt("tamper-me-please", context="c")
    prefix, body = token.rsplit(":", 1)
    raw = bytearray(base64.urlsafe_b64decode(body))
    for index in range(0, len(raw), 7):
        mutated = bytearray(raw)
        mutated[index] ^= 0x01
        forged = f"{prefix}:{base64.urlsafe_b64encode(bytes(mutated)).decode()}"
        with pytest.raises(SecretUnavailable) as err:
            secretbox.decrypt(forged, context="c")
        assert "tamper-me-please" not in str(err.value)


def test_a_fernet_token_without_our_envelope_is_refused(one_key):
    bare = Fernet(K1.encode()).encrypt(b"not an envelope").decode()
    with pytest.raises(SecretUnavailable, match="not JSON"):
        secretbox.decrypt(f"v1:fernet:k1:{bare}", context="c")
    other_shape = Fernet(K1.encode()).encrypt(b'{"c": "c", "v": 42}').decode()
    with pytest.raises(SecretUnavailable, match="unexpected shape"):
        secretbox.decrypt(f"v1:fernet:k1:{other_shape}", context="c")


def test_rotation_moves_old_tokens_to_the_primary_key(one_key, settings):
    old = [secretbox.encrypt(p, context=f"ws:{i}") for i, p in enumerate(PLAINTEXTS)]
    settings.WORKROOM_ENCRYPTION_KEYS = [("k2", K2), ("k1", K1)]
    assert secretbox.primary_key_id() == "k2"
    for i, (token, plaintext) in enumerate(zip(old, PLAINTEXTS, strict=True)):
        assert secretbox.needs_rotation(token)
        assert (
            secretbox.decrypt(token, context=f"ws:{i}") == plaintext
        )  # old key still decrypts
        rotated = secretbox.rotate(token, context=f"ws:{i}")
        assert secretbox.key_id_of(rotated) == "k2"
        assert not secretbox.needs_rotation(rotated)
        assert secretbox.rotate(rotated, context=f"ws:{i}") == rotated  # idempotent
        settings.WORKROOM_ENCRYPTION_KEYS = [
            ("k2", K2)
        ]  # old key removed: rotated still opens
        assert secretbox.decrypt(rotated, context=f"ws:{i}") == plaintext
        settings.WORKROOM_ENCRYPTION_KEYS = [("k2", K2), ("k1", K1)]


def test_rotation_refuses_a_token_of_another_context(two_keys, settings):
    settings.WORKROOM_ENCRYPTION_KEYS = [("k1", K1)]
    token = secretbox.encrypt("value-xyz", context="ws:1")
    settings.WORKROOM_ENCRYPTION_KEYS = [("k2", K2), ("k1", K1)]
    with pytest.raises(SecretUnavailable):
        secretbox.rotate(token, context="ws:9")


def test_generate_key_makes_distinct_valid_keys():
    keys = {secretbox.generate_key() for _ in range(20)}
    assert len(keys) == 20
    for key in keys:
        Fernet(key.encode())


def test_generate_encryption_key_command_prints_a_usable_entry(
    manage_py, subprocess_env
):
    import subprocess

    result = subprocess.run(
        [*manage_py, "generate_encryption_key", "--key-id", "k7"],
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    line = result.stdout.strip().splitlines()[-1]
    key_id, _, key = line.partition(":")
    assert key_id == "k7"
    Fernet(key.encode())
    bad = subprocess.run(
        [*manage_py, "generate_encryption_key", "--key-id", "bad id"],
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2
    assert "--key-id must be" in bad.stderr
