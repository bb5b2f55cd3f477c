"""The local mirror of Control Room processes, runs, step runs and work items, and the sync."""

from __future__ import annotations
