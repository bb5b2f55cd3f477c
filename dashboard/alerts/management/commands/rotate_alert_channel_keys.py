"""Re-encrypt every alert channel's webhook URL and signing secret under the primary key."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from dashboard.alerts.models import Channel
from dashboard.lib import secretbox


class Command(BaseCommand):
    help = (
        "Re-encrypt alert channel URLs and signing secrets with the primary key of "
        "WORKROOM_ENCRYPTION_KEYS (run with rotate_encryption_key). Idempotent."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        rotated = 0
        unreadable: list[Channel] = []
        for channel in Channel.objects.order_by("pk").iterator():
            changes: dict[str, str] = {}
            try:
                for field, context in (
                    ("url_ciphertext", channel.url_context),
                    ("secret_ciphertext", channel.secret_context),
                ):
                    token = getattr(channel, field)
                    if token and secretbox.needs_rotation(token):
                        changes[field] = secretbox.rotate(token, context=context)
            except secretbox.SecretUnavailable:
                unreadable.append(channel)
                continue
            if changes:
                # Conditional: a URL or secret changed meanwhile in the UI is not overwritten.
                same = {f: getattr(channel, f) for f in changes}
                rotated += Channel.objects.filter(pk=channel.pk, **same).update(
                    **changes
                )
        self.stdout.write(
            f"Primary key id: {secretbox.primary_key_id()}. Rotated {rotated} channel(s), "
            f"unreadable {len(unreadable)}."
        )
        for channel in unreadable:
            self.stderr.write(
                f"  cannot decrypt alert channel {channel.pk} ({channel.name}, team "
                f"{channel.team_id}); enter its URL again in the UI."
            )
        if unreadable:
            raise CommandError(
                f"{len(unreadable)} alert channel(s) could not be decrypted."
            )
