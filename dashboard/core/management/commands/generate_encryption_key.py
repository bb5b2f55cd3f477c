"""Print a new Fernet key entry for WORKROOM_ENCRYPTION_KEYS."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from dashboard.lib import secretbox
from dashboard.lib.envparse import KEY_ID_RE


class Command(BaseCommand):
    help = (
        "Print a new encryption key as 'key_id:fernet_key'. Put it FIRST in WORKROOM_ENCRYPTION_KEYS "
        "(keep the old keys after it), restart, then run 'manage.py rotate_encryption_key'."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--key-id",
            help="Key id to prefix (letters, digits, '_' or '-'; default: k<YYYYMMDD>).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        key_id = options["key_id"] or f"k{datetime.now(tz=UTC):%Y%m%d}"
        if not KEY_ID_RE.match(key_id):
            self.stderr.write("--key-id must be 1-32 letters, digits, '_' or '-'.")
            raise SystemExit(2)
        self.stdout.write(f"{key_id}:{secretbox.generate_key()}")
