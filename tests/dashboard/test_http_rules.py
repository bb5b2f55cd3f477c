"""Issue 11 (j), (k): oversized requests get a message naming the limit (never Django's
RequestDataTooBig page), and dynamic pages are never stored by the browser's cache."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from tests.dashboard.factories import make_user

pytestmark = [pytest.mark.django_db]

BIG = "x" * (5 * 1024 * 1024)


@pytest.mark.parametrize("debug", [True, False])
def test_an_oversized_form_names_the_limit(client_for, settings, debug):
    settings.DEBUG = debug
    client = client_for(make_user())
    response = client.post(reverse("accounts-team-create"), {"name": BIG})
    assert response.status_code == 413
    html = response.content.decode()
    assert "at most 2.5\xa0MB" in html and "This request is 5.0\xa0MB" in html
    assert "RequestDataTooBig" not in html and "<h1>That was too much" in html


def test_an_oversized_htmx_request_gets_a_fragment(client_for):
    response = client_for(make_user()).post(
        reverse("accounts-team-create"), {"name": BIG}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 413
    html = response.content.decode()
    assert html.startswith('<p class="flash flash-error"') and "at most 2.5" in html


def test_an_oversized_multipart_text_field_names_the_limit(client_for):
    response = client_for(make_user()).post(
        reverse("accounts-team-create"), {"name": BIG, "f": ""}, format="multipart"
    )
    assert response.status_code == 413
    assert "at most 2.5" in response.content.decode()


def test_an_oversized_json_body_gets_a_json_answer(client):
    url = reverse(
        "mirror-webhook-receive",
        kwargs={"workspace_uid": "00000000-0000-4000-8000-000000000000"},
    )
    response = client.post(
        url, "[" + " " * 3_000_000 + "]", content_type="application/json"
    )
    assert response.status_code == 413
    assert "at most 2.5" in response.json()["error"]


def test_dynamic_pages_are_not_stored_and_static_files_are(
    client_for, client, settings
):
    page = client_for(make_user()).get(reverse("home"))
    assert page.status_code == 200
    assert "no-store" in page["Cache-Control"] and "private" in page["Cache-Control"]
    login = client.get(reverse("login"))
    assert "no-store" in login["Cache-Control"]
    # WhiteNoise indexes STATIC_ROOT when a client's handler loads the middleware.
    probe = Path(settings.STATIC_ROOT) / f"cache-probe-{uuid.uuid4().hex}.css"
    probe.write_text("body{}")
    try:
        static = Client().get(f"/static/{probe.name}")
    finally:
        probe.unlink()
    assert static.status_code == 200
    assert "no-store" not in static.get("Cache-Control", "")
