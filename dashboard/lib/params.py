"""Numbers from query strings: anything a user can type gives a usable value, never a 500."""

from __future__ import annotations

# Far beyond any real page, small enough for slicing, SQL OFFSET and itertools.islice.
MAX_PAGE = 100_000


def page_number(raw: str | None, *, maximum: int = MAX_PAGE) -> int:
    """Return the 1-based page a ``?page=`` value asks for, clamped to ``1..maximum``.

    Missing or non-numeric values give page 1; huge values give ``maximum``.
    """
    text = (raw or "").strip()
    if not text.isascii() or not text.isdigit():
        return 1
    if len(text) > len(str(maximum)):
        return maximum
    return min(max(1, int(text)), maximum)
