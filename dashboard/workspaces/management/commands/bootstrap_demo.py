"""Create (once) a demo admin, team and workspace that point at a running emulator."""

from __future__ import annotations

from typing import Any

import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.views.decorators.debug import sensitive_variables

from dashboard.accounts.models import Membership, Role, Team, User
from dashboard.accounts.services import create_team
from dashboard.workspaces import services
from dashboard.workspaces.models import Workspace

DEV_PASSWORD = "workroom-demo"  # noqa: S105 (printed; development runs only)
TEAM_NAME = "Demo team"
WORKSPACE_NAME = "Demo workspace"


class Command(BaseCommand):
    help = "Idempotently create a demo admin, 'Demo team' and 'Demo workspace' bound to the emulator."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--emulator-url", required=True, help="e.g. http://127.0.0.1:8765"
        )
        parser.add_argument("--username", default="admin")
        parser.add_argument("--password", default=None)
        parser.add_argument("--site-url", default="http://127.0.0.1:8000/")

    def handle(self, *args: Any, **options: Any) -> None:
        info = self._emulator_info(options["emulator_url"])
        user = self._user(options["username"], options["password"])
        team = self._team(user)
        workspace = self._workspace(team, user, info)
        allowed = sum(1 for row in workspace.feature_table() if row.allowed)
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo ready: team '{team.name}', workspace '{workspace.name}' "
                f"({workspace.base_url}, key {workspace.key_fingerprint}, "
                f"{allowed}/{len(workspace.feature_table())} features allowed)."
            )
        )
        self.stdout.write(
            f"Open {options['site_url']} and log in as '{user.get_username()}'."
        )

    def _emulator_info(self, url: str) -> dict[str, str]:
        try:
            response = requests.get(f"{url.rstrip('/')}/__emulator__/info", timeout=10)
            response.raise_for_status()
            info = response.json()
        except (requests.RequestException, ValueError):
            raise CommandError(
                f"Could not read {url}/__emulator__/info; is the emulator running?"
            ) from None
        missing = {"api_base_url", "workspace_id", "api_key"} - set(info)
        if missing:
            raise CommandError(f"The emulator info lacks {sorted(missing)}.")
        return {str(k): str(v) for k, v in info.items()}

    def _user(self, username: str, password: str | None) -> Any:
        User = get_user_model()
        user = User.objects.filter(username=username).first()
        if user is not None:
            self.stdout.write(f"User '{username}' exists; its password is unchanged.")
            return user
        password = password or settings.WORKROOM_DEMO_PASSWORD or DEV_PASSWORD
        user = User.objects.create_user(username=username, password=password)
        self.stdout.write(
            f"Created user '{username}' with password '{password}' (shown once)."
        )
        return user

    def _team(self, user: User) -> Team:
        membership = (
            Membership.objects.filter(user=user, team__name=TEAM_NAME)
            .select_related("team")
            .first()
        )
        if membership is not None:
            if membership.role != Role.ADMIN:
                Membership.objects.filter(pk=membership.pk).update(role=Role.ADMIN)
            return membership.team
        return create_team(user, TEAM_NAME)

    @sensitive_variables("info")
    def _workspace(self, team: Team, user: User, info: dict[str, str]) -> Workspace:
        workspace = Workspace.objects.filter(
            team=team, cr_workspace_id=info["workspace_id"]
        ).first()
        try:
            if workspace is None:
                return services.add_workspace(
                    team,
                    user,
                    name=WORKSPACE_NAME,
                    base_url=info["api_base_url"],
                    cr_workspace_id=info["workspace_id"],
                    api_key=info["api_key"],
                )
            base_url = services.validate_base_url(info["api_base_url"])
            if workspace.base_url != base_url or not services.key_matches(
                workspace, info["api_key"]
            ):
                # The emulator restarted on another port or with another key.
                with transaction.atomic():
                    workspace.base_url = base_url
                    workspace.save(update_fields=["base_url", "updated_at"])
                    services.replace_key(workspace, user, api_key=info["api_key"])
        except services.WorkspaceError as err:
            raise CommandError(err.message) from None
        return workspace
