"""Content-Security-Policy: the header is sent and rendered pages carry no inline script or style."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.contrib.auth import get_user_model
from django.urls import path, reverse

pytestmark = pytest.mark.django_db

EXPECTED_DIRECTIVES = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "connect-src": "'self'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
    "base-uri": "'none'",
    "object-src": "'none'",
}


class InlineFinder(HTMLParser):
    """Collect everything a strict CSP would block: inline scripts, <style>, style= and on*= attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self.scripts: list[dict[str, str | None]] = []
        self.meta: dict[str, str | None] = {}
        self._in_inline_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        for name, _ in attrs:
            if name == "style" or name.startswith("on") or name.startswith("hx-on"):
                self.problems.append(f"<{tag} {name}=...>")
        if tag == "style":
            self.problems.append("<style>")
        if tag == "script":
            self.scripts.append(attributes)
            self._in_inline_script = not attributes.get("src")
        if tag == "meta" and attributes.get("name") == "htmx-config":
            self.meta = attributes
        for name in ("href", "src", "action"):
            if (attributes.get(name) or "").strip().lower().startswith("javascript:"):
                self.problems.append(f"<{tag} {name}=javascript:>")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_inline_script = False

    def handle_data(self, data: str) -> None:
        if self._in_inline_script and data.strip():
            self.problems.append("inline <script> body")


def parse(html: str) -> InlineFinder:
    finder = InlineFinder()
    finder.feed(html)
    return finder


def directives(header: str) -> dict[str, str]:
    parts = (part.strip().split(None, 1) for part in header.split(";") if part.strip())
    return {p[0]: (p[1] if len(p) > 1 else "") for p in parts}


def test_the_policy_header_is_strict(client):
    response = client.get(reverse("login"))
    assert directives(response["Content-Security-Policy"]) == EXPECTED_DIRECTIVES
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_the_login_page_has_no_inline_script_or_style(client):
    html = client.get(reverse("login")).content.decode()
    finder = parse(html)
    assert finder.problems == []
    sources = [s.get("src") or "" for s in finder.scripts]
    assert any("django_htmx/htmx" in src for src in sources), (
        sources
    )  # vendored htmx, no CDN
    assert all(src.startswith("/static/") for src in sources)
    assert '"allowEval": false' in (finder.meta.get("content") or "")
    assert '"includeIndicatorStyles": false' in (finder.meta.get("content") or "")


@pytest.mark.parametrize("url_name", ["password_change", "password_change_done"])
def test_logged_in_pages_have_no_inline_script_or_style(client, url_name):
    user = get_user_model().objects.create_user("erin", password="pw-erin-123456")
    client.force_login(user)
    response = client.get(reverse(url_name))
    assert response.status_code == 200
    assert parse(response.content.decode()).problems == []
    assert "Content-Security-Policy" in response


def test_error_pages_have_no_inline_code_and_no_details(client):
    response = client.get("/definitely/not/here/")
    assert response.status_code == 404
    html = response.content.decode()
    assert parse(html).problems == []
    assert "Traceback" not in html
    assert (
        "/definitely/not/here/" not in html
    )  # Django's debug 404 would echo the path and URLconf


def test_the_500_page_is_self_contained_and_safe():
    from django.template import loader

    html = loader.get_template("500.html").render()
    assert parse(html).problems == []
    assert "Something went wrong" in html


def _boom(request):
    raise RuntimeError("internal-detail-7f3a")


urlpatterns = [path("boom/", _boom)]


@pytest.mark.urls(__name__)
def test_an_unhandled_error_renders_the_generic_500_page(client):
    client.raise_request_exception = False
    response = client.get("/boom/")
    assert response.status_code == 500
    html = response.content.decode()
    assert "Something went wrong" in html
    assert "internal-detail-7f3a" not in html
    assert "Traceback" not in html
