"""Request-wide HTTP rules: no caching of dynamic pages, a clear answer to oversized requests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template.defaultfilters import filesizeformat
from django.utils.cache import patch_cache_control

Handler = Callable[[HttpRequest], HttpResponse]


class NoStoreMiddleware:
    """``Cache-Control: no-store, private`` on every dynamic response that sets no policy itself.

    Pages show live state and carry CSRF tokens: Back after confirming a bulk operation must not
    show the stale "Running 0%" page from the browser's cache. Static files never reach this
    middleware (WhiteNoise answers them earlier, with its own long-lived caching).
    """

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not response.has_header("Cache-Control"):
            patch_cache_control(response, no_store=True, private=True)
        return response


def _limit_text() -> str:
    return str(filesizeformat(settings.DATA_UPLOAD_MAX_MEMORY_SIZE))


def too_large_response(request: HttpRequest, size: int | None) -> HttpResponse:
    """413 naming the limit: a JSON error for API clients, a fragment for htmx, else a page."""
    limit = _limit_text()
    sent = f"This request is {filesizeformat(size)}; " if size else ""
    message = (
        f"{sent}Workroom accepts at most {limit} of form data in one request. "
        "Nothing was saved: go back, shorten the text (or upload it as a file) and send it again."
    )
    if request.content_type == "application/json":
        return JsonResponse({"error": message}, status=413)
    template = (
        "_request_too_large.html"
        if request.headers.get("HX-Request") == "true"
        else "413.html"
    )
    return render(request, template, {"message": message}, status=413)


def _declared_length(request: HttpRequest) -> int | None:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0) or None
    except ValueError:
        return None


class RequestSizeLimitMiddleware:
    """Answers a body over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` with a message naming the limit.

    Django raises ``RequestDataTooBig`` when such a body is read, which becomes a bare 400 (and
    Django's technical page in DEBUG). Form bodies are refused up front by their declared
    length; multipart bodies (whose files do not count) are parsed here, before the CSRF check
    would, except for views that stream uploads themselves (``csrf_exempt``), whose own
    ``RequestDataTooBig`` is caught in ``process_exception``. Place before CsrfViewMiddleware.
    """

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        size = _declared_length(request)
        limit: int | None = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        multipart = (request.content_type or "").startswith("multipart/")
        if limit is not None and size and size > limit and not multipart:
            return too_large_response(request, size)
        return self.get_response(request)

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., Any],
        view_args: Any,
        view_kwargs: Any,
    ) -> HttpResponse | None:
        if request.method != "POST" or getattr(view_func, "csrf_exempt", False):
            return None
        try:
            request.POST  # noqa: B018 (parses the body: the CSRF check next would anyway)
        except RequestDataTooBig:
            return too_large_response(request, _declared_length(request))
        return None

    def process_exception(
        self, request: HttpRequest, exception: Exception
    ) -> HttpResponse | None:
        if isinstance(exception, RequestDataTooBig):
            return too_large_response(request, _declared_length(request))
        return None
