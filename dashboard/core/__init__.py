"""Project-wide pieces that need an app label: management commands and system checks."""

from __future__ import annotations
