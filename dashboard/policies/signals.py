"""Signals of retry policies, for the floors above (alerts connect at merge)."""

from __future__ import annotations

from django.dispatch import Signal

# Sent once when a policy's circuit breaker opens (`policy=` the RetryPolicy, `reason=` the
# sentence shown on its page). Receivers must be quick (enqueue on commit); sent robustly.
breaker_opened = Signal()
