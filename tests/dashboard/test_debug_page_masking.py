"""Issue 11 (b): the DEBUG error page never shows a submitted key or password, nor one held in a
local variable or a dict (``cleaned_data``) of a frame, and a malformed host name is refused."""

from __future__ import annotations

import sys

import pytest
from django.test import RequestFactory
from django.views.debug import ExceptionReporter

from dashboard.workspaces.services import WorkspaceError, validate_base_url
from robocorp_api import ControlRoomClient
from robocorp_api.errors import ConnectionFailed

# Built at run time: the page's source excerpts must not contain the canaries literally.
KEY = "-".join(["canary", "api", "key", "5f1e2d"])
PASSWORD = "-".join(["canary", "password", "77aa"])


def _fails_holding_secrets(api_key: str, data: dict[str, str]) -> None:
    cleaned_data = {"api_key": api_key, "password": data["password"], "name": "x"}
    raise RuntimeError(f"boom {len(cleaned_data)}")


def _error_page(settings, debug: bool) -> str:
    settings.DEBUG = debug
    request = RequestFactory().post(
        "/teams/a/workspaces/new/",
        {"api_key": KEY, "password": PASSWORD, "register-password1": PASSWORD},
    )
    try:
        _fails_holding_secrets(KEY, {"password": PASSWORD})
    except RuntimeError:
        reporter = ExceptionReporter(request, *sys.exc_info())
    return reporter.get_traceback_html() + reporter.get_traceback_text()


@pytest.mark.parametrize("debug", [True, False])
def test_the_error_page_masks_posted_and_local_secrets(settings, debug):
    page = _error_page(settings, debug)
    assert "boom 3" in page
    assert KEY not in page and PASSWORD not in page


@pytest.mark.parametrize(
    "url",
    [
        "https://a..robocorp.com/api/v1",
        "https://.robocorp.com/api/v1",
        "https://-a.robocorp.com/api/v1",
        "https://" + "a" * 64 + ".robocorp.com/api/v1",
        "https://a_b.robocorp.com/api/v1",
    ],
)
def test_malformed_host_names_are_refused(url):
    with pytest.raises(WorkspaceError, match="host name of this URL is not valid"):
        validate_base_url(url)


def test_a_url_urllib3_cannot_parse_is_a_typed_error_not_a_crash():
    with (
        ControlRoomClient(
            "key-123456", workspace_id="w", base_url="https://a..robocorp.com/api/v1"
        ) as client,
        pytest.raises(ConnectionFailed, match="request failed"),
    ):
        client.workspace.get()
