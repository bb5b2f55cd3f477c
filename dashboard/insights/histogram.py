"""Log-spaced duration bins: a histogram per hour can be summed over any period, and its
percentiles are read back within one bin (a factor of 2^(1/4), about ±9 %).

Bin 0 holds durations under 1 s; bin k ≥ 1 holds [2^((k-1)/4), 2^(k/4)) seconds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

STEPS_PER_DOUBLING = 4
MAX_BIN = 32000  # fits a SmallIntegerField; far beyond any real duration


def bin_of(seconds: float) -> int:
    """Return the bin of a duration in seconds (negative durations count as 0)."""
    if seconds < 1:
        return 0
    return min(MAX_BIN, int(math.log2(seconds) * STEPS_PER_DOUBLING) + 1)


def bin_value(index: int) -> float:
    """A representative duration of bin `index` (the geometric middle of its bounds)."""
    if index <= 0:
        return 0.5
    return float(2 ** ((index - 0.5) / STEPS_PER_DOUBLING))


def percentile(counts: Mapping[int, int], share: float) -> float | None:
    """The `share` (0..1) percentile of a histogram {bin: count}, or None when it is empty."""
    total = sum(counts.values())
    if total <= 0:
        return None
    rank = max(1, math.ceil(share * total))
    seen = 0
    for index in sorted(counts):
        seen += counts[index]
        if seen >= rank:
            return bin_value(index)
    return bin_value(max(counts))
