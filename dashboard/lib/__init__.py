"""Small pure helpers (env parsing, crypto, log redaction) that import no Workroom app."""

from __future__ import annotations
