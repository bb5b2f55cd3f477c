"""A faithful local Control Room emulator (v1 + legacy Process API) for tests, demos and benchmarks."""

from __future__ import annotations

from .faults import FaultRule, Faults
from .server import EmulatorServer, Stats
from .store import ALL_PERMISSIONS, EmulatorError, Store

__all__ = [
    "ALL_PERMISSIONS",
    "EmulatorError",
    "EmulatorServer",
    "FaultRule",
    "Faults",
    "Stats",
    "Store",
]
