"""A small client of the Workroom API: bearer token, Idempotency-Key on POST, one retry after
a 429's Retry-After, problem+json errors raised as `ApiError` with the server's message."""

from __future__ import annotations

import os
import time
import tomllib
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

# Exit codes (README "Command line"): one per kind of failure a script may want to tell apart.
OK = 0
FAILED = 1  # the server or the network failed (5xx, unreachable)
INVALID = 2  # bad arguments or input the server refused (400, 422)
DENIED = 3  # no token, a bad one, or not allowed (401, 403)
NOT_FOUND = 4  # no such object in the token's team (404)
CONFLICT = 5  # refused in the current state (409), or declined at the prompt
UNFINISHED = 6  # a bulk operation ended with failed or cancelled items


class CliError(Exception):
    def __init__(self, message: str, code: int = FAILED) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class ApiError(CliError):
    STATUS_CODES = {
        400: INVALID,
        401: DENIED,
        403: DENIED,
        404: NOT_FOUND,
        409: CONFLICT,
    }

    def __init__(self, status: int, message: str) -> None:
        code = self.STATUS_CODES.get(status, INVALID if 400 <= status < 500 else FAILED)
        super().__init__(message, code)
        self.status = status


@dataclass(frozen=True)
class Config:
    url: str
    token: str


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "workroom" / "config.toml"


def load_config(env: dict[str, str] | None = None) -> Config:
    """WORKROOM_URL / WORKROOM_TOKEN, else `url` / `token` of ~/.config/workroom/config.toml."""
    env = dict(os.environ) if env is None else env
    from_file: dict[str, Any] = {}
    path = config_path()
    if path.exists():
        try:
            from_file = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as err:
            raise CliError(f"cannot read {path}: {err}", INVALID) from None
    url = env.get("WORKROOM_URL") or str(from_file.get("url", ""))
    token = env.get("WORKROOM_TOKEN") or str(from_file.get("token", ""))
    if not url or not token:
        raise CliError(
            f"set WORKROOM_URL and WORKROOM_TOKEN (or url and token in {path})", DENIED
        )
    return Config(url.rstrip("/"), token)


class Api:
    def __init__(self, config: Config, *, timeout: float = 30.0) -> None:
        self.base = config.url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {config.token}"
        self.session.headers["User-Agent"] = "workroom-cli"
        self.timeout = timeout

    def url(self, path: str) -> str:
        return path if path.startswith("http") else f"{self.base}{path}"

    def get(self, path: str, params: Any = None) -> Any:
        return self._call("GET", path, params=params)

    def post(self, path: str, body: Any = None) -> Any:
        # One key per logical call: a retry after a lost answer is answered, not redone.
        headers = {"Idempotency-Key": str(uuid.uuid4())}
        return self._call("POST", path, json=body or {}, headers=headers)

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        for attempt in range(4):
            try:
                answer = self.session.request(
                    method, self.url(path), timeout=self.timeout, **kwargs
                )
            except requests.RequestException as err:
                if attempt == 3:
                    raise CliError(
                        f"cannot reach {self.base}: {type(err).__name__}"
                    ) from None
                time.sleep(1 + attempt)
                continue
            if answer.status_code == 429 and attempt < 3:
                time.sleep(min(60, int(answer.headers.get("Retry-After", "1"))))
                continue
            if answer.status_code >= 400:
                raise ApiError(answer.status_code, _message(answer))
            return answer.json()
        raise CliError("gave up after repeated rate limiting")


def _message(answer: requests.Response) -> str:
    try:
        detail = answer.json().get("detail")
    except ValueError:
        detail = None
    return str(detail) if detail else f"HTTP {answer.status_code}"
