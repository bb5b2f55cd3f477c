"""Re-encrypt every stored workspace key under the primary encryption key."""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dashboard.lib import secretbox
from dashboard.workspaces.models import Workspace


class Command(BaseCommand):
    help = (
        "Re-encrypt every workspace API key with the primary key of WORKROOM_ENCRYPTION_KEYS. "
        "Idempotent; run it after adding a new first key, then drop the old key once no rows use it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=200)

    def handle(self, *args: Any, batch_size: int = 200, **options: Any) -> None:
        primary = secretbox.primary_key_id()
        rotated = current = 0
        unreadable: list[Workspace] = []
        last_pk = 0
        while True:
            batch = list(
                Workspace.objects.filter(pk__gt=last_pk).order_by("pk")[:batch_size]
            )
            if not batch:
                break
            last_pk = batch[-1].pk
            for workspace in batch:
                outcome = self._rotate_one(workspace, primary)
                if outcome == "rotated":
                    rotated += 1
                elif outcome == "current":
                    current += 1
                else:
                    unreadable.append(workspace)
        self.stdout.write(
            f"Primary key id: {primary}. Rotated {rotated}, already current {current}, "
            f"unreadable {len(unreadable)}."
        )
        self._report_left(primary)
        for workspace in unreadable:
            self.stderr.write(
                f"  cannot decrypt workspace {workspace.pk} ({workspace.name}, team "
                f"{workspace.team_id}); replace its key in the UI."
            )
        if unreadable:
            raise CommandError(
                f"{len(unreadable)} workspace key(s) could not be decrypted."
            )

    def _rotate_one(self, workspace: Workspace, primary: str) -> str:
        try:
            token = secretbox.rotate(
                workspace.api_key_ciphertext, context=str(workspace.uid)
            )
        except secretbox.SecretUnavailable:
            return "unreadable"
        if token == workspace.api_key_ciphertext:
            if workspace.api_key_key_id != primary:
                Workspace.objects.filter(pk=workspace.pk).update(api_key_key_id=primary)
            return "current"
        # Conditional update: a key replaced meanwhile in the UI is not overwritten.
        Workspace.objects.filter(
            pk=workspace.pk, api_key_ciphertext=workspace.api_key_ciphertext
        ).update(api_key_ciphertext=token, api_key_key_id=secretbox.key_id_of(token))
        return "rotated"

    def _report_left(self, primary: str) -> None:
        left = Counter(
            Workspace.objects.exclude(api_key_key_id=primary).values_list(
                "api_key_key_id", flat=True
            )
        )
        if left:
            detail = ", ".join(f"{key_id}: {n}" for key_id, n in sorted(left.items()))
            self.stdout.write(f"Rows still on other key ids: {detail}.")
        else:
            self.stdout.write("No rows left on other key ids.")
