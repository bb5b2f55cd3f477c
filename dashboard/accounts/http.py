"""Request typing shared by the apps' views (imported downward only)."""

from __future__ import annotations

from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    # Typing pattern recommended by django-stubs / django-htmx.
    htmx: HtmxDetails
