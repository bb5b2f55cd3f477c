"""Gunicorn's access and error logs through the same redaction as the app's logs.

Gunicorn writes its own logs, outside Django's LOGGING: an access log line carries the request
path, and an invitation link's path is its one-time token. Used with
``gunicorn --logger-class dashboard.lib.gunicorn_logging.RedactingLogger``.
"""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

from dashboard.lib.redact import RedactingFilter


class RedactingLogger(Logger):
    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        redact = RedactingFilter()
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.addFilter(redact)
