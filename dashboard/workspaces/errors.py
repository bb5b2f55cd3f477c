"""The one mapping of a Control Room (or stored-key) error to a sentence for the operator.

It lives on the workspaces floor because every floor above (the mirror, the work-item core,
the surfaces) and the key checks of this floor talk to Control Room through a workspace's
key, and an error must read the same wherever it surfaces.
"""

from __future__ import annotations

from dashboard.lib.secretbox import SecretUnavailable
from robocorp_api import errors as cr

UNDECRYPTABLE = (
    "The workspace's stored API key cannot be decrypted (the encryption key changed?); "
    "a team admin must replace it on the workspace page."
)


def describe(err: Exception, *, needs: str = "", thing: str = "object") -> str:
    """Return an operator-facing sentence for `err` (never the key, a URL or a traceback).

    `needs` names the Control Room permission the call needed (said on a 403); `thing` what
    the call was about (said on a 404), e.g. "work item" or "process run".
    """
    if isinstance(err, SecretUnavailable):
        return UNDECRYPTABLE
    if not isinstance(err, cr.ControlRoomError):
        return "Workroom could not talk to Control Room."
    return _describe_answer(err, needs=needs, thing=thing)


def _describe_answer(err: cr.ControlRoomError, *, needs: str, thing: str) -> str:
    if isinstance(err, cr.PermissionDenied):
        permission = f"the permission {needs}" if needs else "a permission this needs"
        return (
            f"Control Room refused (403): the workspace's API key lacks {permission}. "
            "A team admin can grant it in Control Room, or replace the key."
        )
    if isinstance(err, cr.AuthenticationFailed):
        return (
            "The API key was rejected by Control Room (401): it was deleted, rotated or "
            "mistyped. A team admin must replace it on the workspace page."
        )
    if isinstance(err, cr.NotFound):
        return f"Control Room has no such {thing} (404); it may have been deleted."
    return _describe_failure(err)


def _describe_failure(err: cr.ControlRoomError) -> str:
    detail = f" Control Room said: “{err.message}”" if err.message else ""
    if isinstance(err, cr.Conflict):
        return (
            "Control Room refused: it is no longer in a state that allows this (409)."
            + detail
        )
    if isinstance(err, cr.BadRequest):
        return "Control Room rejected the request (400)." + detail
    if isinstance(err, cr.RateLimited):
        wait = f" {int(err.retry_after)} s" if err.retry_after else " a minute"
        return f"Control Room is rate-limiting requests (429); try again in{wait}."
    if isinstance(err, cr.AmbiguousResult):
        return (
            "The request reached Control Room but no answer came back, so Workroom cannot "
            "tell whether it took effect; check the current state before trying again."
        )
    if isinstance(err, cr.ConnectionFailed | cr.ReadTimedOut):
        return (
            "Could not reach Control Room: the server could not be reached or did not "
            "answer; try again in a moment."
        )
    if isinstance(err, cr.ServerError):
        return f"Control Room had an internal error ({err.status}); try again later."
    if isinstance(err, cr.InvalidResponse):
        return "Control Room sent an answer Workroom could not read; try again later."
    return f"Control Room answered unexpectedly ({err.status or 'no status'})."
