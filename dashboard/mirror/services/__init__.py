"""Services of the mirror: the sync algorithm, sync bookkeeping and webhooks."""

from __future__ import annotations
