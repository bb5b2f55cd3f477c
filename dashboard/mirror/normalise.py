"""Normalise exception messages into signatures that group "the same failure".

`message_signature("Order 48213 not found in SAP")` and the same message with another order
number give the same signature, so failure triage can GROUP BY it. Pure functions.
"""

from __future__ import annotations

import re
from functools import lru_cache

SIGNATURE_MAX_LENGTH = 255

_EMAIL = re.compile(r"[\w.+%-]+@[\w-]+(?:\.[\w-]+)+")
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s'\"<>]+", re.IGNORECASE)
_UUID = re.compile(
    r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.IGNORECASE
)
_ISO_DATE = re.compile(
    r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?\b"
)
_OTHER_DATE = re.compile(r"\b\d{1,2}[./-]\d{1,2}[./-]\d{2,4}\b")
_TIME = re.compile(r"\b\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\b")
# Hex or mixed letter+digit tokens of 8+ characters are ids (hashes, object ids, tickets).
_HEX_ID = re.compile(
    r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{8,}\b", re.IGNORECASE
)
_MIXED_ID = re.compile(r"\b(?=[A-Za-z_]*\d)(?=\d*[A-Za-z])[A-Za-z0-9_]{8,}\b")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_SPACE = re.compile(r"\s+")


# The sync signs every failed item it writes and the same messages come back again and again
# (one failure, many items): ten regex passes each time were a tenth of a first load.
@lru_cache(maxsize=1024)  # bounded: messages can be long
def message_signature(message: str | None) -> str:
    """Return `message` with emails, URLs, uuids, dates, times, ids and numbers replaced by
    placeholders and whitespace collapsed, cut to 255 characters ("" for no message)."""
    if not message:
        return ""
    text = _EMAIL.sub("<email>", message)
    text = _URL.sub("<url>", text)
    text = _UUID.sub("<uuid>", text)
    text = _ISO_DATE.sub("<date>", text)
    text = _OTHER_DATE.sub("<date>", text)
    text = _TIME.sub("<time>", text)
    text = _HEX_ID.sub("<id>", text)
    text = _MIXED_ID.sub("<id>", text)
    text = _NUMBER.sub("<n>", text)
    text = _SPACE.sub(" ", text).strip()
    return text[:SIGNATURE_MAX_LENGTH]
