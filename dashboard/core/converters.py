"""URL converter for ids that Control Room chooses: any string must round-trip through a URL.

Control Room ids are usually UUIDs, but nothing guarantees it: an id with ``/``, ``..``, a control
character or non-ASCII text must neither break ``reverse()`` (a 500 for every page listing it) nor
change which page a link opens. Plain ids keep their readable form; any other id is written as
``~`` + unpadded base64url of its UTF-8 bytes, which only uses characters safe in one path segment.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

ENCODED_PREFIX = "~"
# Plain: safe in a path segment, never a dot segment, never mistaken for an encoded id.
_PLAIN = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,199}")
_ENCODED = re.compile(r"~[A-Za-z0-9_-]{1,4000}")
MAX_ID_LENGTH = 2000


def encode_id(value: str) -> str:
    """Return ``value`` as one URL path segment."""
    if _PLAIN.fullmatch(value):
        return value
    raw = base64.urlsafe_b64encode(value.encode("utf-8", "surrogatepass"))
    return ENCODED_PREFIX + raw.decode("ascii").rstrip("=")


def decode_id(segment: str) -> str:
    """Return the id a segment made by ``encode_id`` stands for.

    Raises:
        ValueError: the segment is not one ``encode_id`` makes (the URL then does not match: 404).
    """
    if _PLAIN.fullmatch(segment):
        return segment
    if not _ENCODED.fullmatch(segment):
        raise ValueError("not a Control Room id segment")
    body = segment[len(ENCODED_PREFIX) :]
    try:
        value = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise ValueError("not a Control Room id segment") from None
    # NUL: no database column can hold it (PostgreSQL refuses it), so no stored id has one.
    if not value or "\x00" in value or len(value) > MAX_ID_LENGTH:
        raise ValueError("not a Control Room id segment")
    if encode_id(value) != segment:
        raise ValueError("not a Control Room id segment")
    return value


class ControlRoomIdConverter:
    """``<crid:name>``: any non-empty Control Room id, see the module docstring."""

    regex = r"[A-Za-z0-9_~.-]+"

    def to_python(self, value: str) -> str:
        return decode_id(value)

    def to_url(self, value: Any) -> str:
        if not isinstance(value, str) or not value:
            raise ValueError("a Control Room id must be a non-empty string")
        return encode_id(value)
