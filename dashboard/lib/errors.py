"""The one base of Workroom's own errors: a refusal or failure with a message to show."""

from __future__ import annotations


class WorkroomError(Exception):
    """Something Workroom refused or could not do; `message` is safe to show to the user
    who asked (no secret, no traceback, no internal URL)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
