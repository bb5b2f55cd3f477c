"""Login, logout, password change, login throttling (django-axes) and the CSRF failure view."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from dashboard.views import CSRF_HTMX_MESSAGE

PASSWORD = "correct horse battery staple"

pytestmark = pytest.mark.django_db


@pytest.fixture
def dora():
    return get_user_model().objects.create_user("dora", password=PASSWORD)


def login(client: Client, username: str, password: str, **extra: Any) -> Any:
    return client.post(
        reverse("login"), {"username": username, "password": password}, **extra
    )


def test_the_login_page_explains_the_lockout_policy(client, settings):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    text = response.content.decode()
    assert f"after {settings.AXES_FAILURE_LIMIT} failed attempts" in text
    assert "blocked for 15 minutes" in text


def test_it_logs_in_and_redirects_home(client, dora):
    response = login(client, "dora", PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    assert client.session["_auth_user_id"] == str(dora.pk)


def test_it_honours_a_safe_next_and_ignores_an_external_one(client, dora):
    response = client.post(
        reverse("login") + "?next=/password/change/",
        {"username": "dora", "password": PASSWORD, "next": "/password/change/"},
    )
    assert response["Location"] == "/password/change/"
    client.logout()
    response = client.post(
        reverse("login"),
        {"username": "dora", "password": PASSWORD, "next": "https://evil.example/"},
    )
    assert response["Location"] == reverse("home")


def test_a_wrong_password_shows_a_form_error(client, dora):
    response = login(client, "dora", "wrong")
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_pages_need_login(client):
    response = client.get(reverse("password_change"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login") + "?next=")


def test_logout_is_a_post(client, dora):
    client.force_login(dora)
    assert client.get(reverse("logout")).status_code == 405
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert response["Location"] == reverse("login")
    assert "_auth_user_id" not in client.session


def test_the_nav_offers_password_change_and_a_logout_form(client, dora):
    client.force_login(dora)
    text = client.get(reverse("password_change")).content.decode()
    assert 'href="/password/change/"' in text
    assert '<form method="post" action="/logout/"' in text
    assert "dora" in text


def test_password_change_flow(client, dora):
    client.force_login(dora)
    response = client.post(
        reverse("password_change"),
        {
            "old_password": PASSWORD,
            "new_password1": "a much newer passphrase 42",
            "new_password2": "a much newer passphrase 42",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("password_change_done")
    assert client.get(reverse("password_change_done")).status_code == 200
    dora.refresh_from_db()
    assert dora.check_password("a much newer passphrase 42")
    assert (
        "_auth_user_id" in client.session
    )  # the session survives its own password change


def test_password_change_rejects_a_wrong_old_password_and_a_weak_one(client, dora):
    client.force_login(dora)
    response = client.post(
        reverse("password_change"),
        {
            "old_password": "nope",
            "new_password1": "12345678",
            "new_password2": "12345678",
        },
    )
    assert response.status_code == 200
    text = response.content.decode()
    assert "Your old password was entered incorrectly" in text
    dora.refresh_from_db()
    assert dora.check_password(PASSWORD)


def test_it_locks_out_after_too_many_failures_with_a_clear_page(client, dora, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert login(client, "dora", "wrong").status_code == 200
    response = login(client, "dora", "wrong")
    assert response.status_code == 429
    text = response.content.decode()
    assert "Login temporarily blocked" in text
    assert "15 minutes" in text
    # Even the right password is refused now, from this address ...
    locked = login(client, "dora", PASSWORD)
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session
    # ... but not from another one: the lock is per (username, ip).
    other = Client(REMOTE_ADDR="10.9.8.7")
    assert login(other, "dora", PASSWORD).status_code == 302


def test_a_success_resets_the_failure_count(client, dora, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        login(client, "dora", "wrong")
    assert login(client, "dora", PASSWORD).status_code == 302
    client.logout()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert login(client, "dora", "wrong").status_code == 200


# ---- CSRF failures -------------------------------------------------------------------------------


def test_an_htmx_post_with_a_stale_token_reloads_the_page_with_a_message(dora):
    client = Client(enforce_csrf_checks=True)
    client.force_login(dora)
    client.get(reverse("password_change"))
    response = client.post(
        reverse("logout"),
        HTTP_HX_REQUEST="true",
        HTTP_X_CSRFTOKEN="stale-token-from-other-tab",
    )
    assert response.status_code == 403
    assert response["HX-Refresh"] == "true"
    assert "_auth_user_id" in client.session  # nothing happened
    page = client.get(reverse("password_change")).content.decode()
    assert "Your session changed" in page
    assert CSRF_HTMX_MESSAGE.split(",")[0] in page


def test_a_plain_post_without_a_token_gets_an_explanation(dora):
    client = Client(enforce_csrf_checks=True)
    client.force_login(dora)
    response = client.post(reverse("logout"))
    assert response.status_code == 403
    text = response.content.decode()
    assert "This form has expired" in text
    assert "HX-Refresh" not in response
    assert "CSRF cookie not set" not in text  # no Django reason or debug text


def test_a_post_with_the_token_from_the_page_works(dora):
    client = Client(enforce_csrf_checks=True)
    client.force_login(dora)
    page = client.get(reverse("password_change"))
    token = page.context["csrf_token"]
    response = client.post(
        reverse("logout"), HTTP_HX_REQUEST="true", HTTP_X_CSRFTOKEN=str(token)
    )
    assert response.status_code == 302


def test_a_session_ends_a_fixed_time_after_log_in_however_active(client, dora):
    import time_machine

    with time_machine.travel("2026-01-01 08:00:00Z", tick=False) as clock:
        assert login(client, "dora", PASSWORD).status_code == 302
        for _ in range(23):  # active every hour: the idle timeout never fires
            clock.shift(3600)
            assert client.get(reverse("home")).status_code == 200
        clock.shift(3600 + 60)  # 24 h and a minute after the log-in
        response = client.get(reverse("home"))
        assert response.status_code == 302
        assert reverse("login") in response["Location"]
        follow = client.get(response["Location"])
        assert "Your session has expired" in follow.content.decode()
