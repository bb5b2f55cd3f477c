"""Plain-`requests` helpers for the emulator tests (deliberately independent of the client package)."""

from __future__ import annotations

from typing import Any

import requests

from robocorp_api.emulator import EmulatorServer


class Api:
    """A keep-alive session against one emulator: `api.get("work-items", limit=5)` → requests.Response."""

    def __init__(
        self, emu: EmulatorServer, key: str | None = None, *, legacy: bool = False
    ) -> None:
        self.emu = emu
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"RC-WSKEY {key or emu.api_key}"
        base = emu.legacy_base_url if legacy else emu.api_base_url
        self.base = f"{base}/workspaces/{emu.workspace_id}"

    def url(self, path: str) -> str:
        return self.base + ("/" + path if path else "")

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.session.get(self.url(path), params=params, timeout=10)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        if body is not None:
            kwargs["json"] = body
        return self.session.post(self.url(path), timeout=10, **kwargs)

    def put(self, path: str, body: Any) -> requests.Response:
        return self.session.put(self.url(path), json=body, timeout=10)

    def delete(self, path: str) -> requests.Response:
        return self.session.delete(self.url(path), timeout=10)

    def collect(self, path: str, **params: Any) -> list[dict[str, Any]]:
        """Follow `next` verbatim until the end; fails on a repeated `next`."""
        answer = self.get(path, **params)
        seen: set[str] = set()
        rows: list[dict[str, Any]] = []
        while True:
            assert answer.status_code == 200, answer.text
            body = answer.json()
            rows.extend(body["data"])
            if not body["has_more"]:
                assert body["next"] is None
                return rows
            assert body["next"] not in seen
            seen.add(body["next"])
            answer = self.session.get(body["next"], timeout=10)


def error(answer: requests.Response, status: int) -> dict[str, str]:
    """Assert a JSON error answer of `status` and return its `error` object."""
    assert answer.status_code == status, (answer.status_code, answer.text)
    assert answer.headers["Content-Type"].startswith("application/json")
    body = answer.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert body["error"]["message"]
    return dict(body["error"])
