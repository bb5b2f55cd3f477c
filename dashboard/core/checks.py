"""System checks that make unsafe configuration loud."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Tags, register
from django.core.checks import Warning as CheckWarning


@register(Tags.security)
def check_development_encryption_key(
    app_configs: Any = None, **kwargs: Any
) -> list[CheckMessage]:
    """Warn while stored API keys are encrypted with the public development key."""
    if not settings.WORKROOM_USING_DEV_ENCRYPTION_KEY:
        return []
    return [
        CheckWarning(
            "Workspace API keys are encrypted with the PUBLIC development key.",
            hint="Fine for a local demo only. Set WORKROOM_ENCRYPTION_KEYS (manage.py "
            "generate_encryption_key) before storing a real key.",
            id="workroom.W001",
        )
    ]
