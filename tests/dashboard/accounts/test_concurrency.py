"""Two admins demoting each other at the same moment must leave the team with an admin."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from dashboard.accounts import services
from dashboard.accounts.models import Membership, Role
from tests.dashboard.factories import add_member, make_team, make_user

pytestmark = pytest.mark.django_db(transaction=True)


def test_simultaneous_mutual_demotion_keeps_one_admin():
    ann, ben = make_user("ann"), make_user("ben")
    team = make_team("Race", admin=ann)
    add_member(team, ben, Role.ADMIN)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def demote(actor_name: str, target_name: str) -> None:
        try:
            target = Membership.objects.get(team=team, user__username=target_name)
            actor = Membership.objects.get(team=team, user__username=actor_name).user
            barrier.wait(timeout=10)
            services.change_role(target, Role.VIEWER, actor)
            outcomes.append("ok")
        except services.LastAdminError:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [
        threading.Thread(target=demote, args=("ann", "ben")),
        threading.Thread(target=demote, args=("ben", "ann")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["ok", "refused"]
    assert Membership.objects.filter(team=team, role=Role.ADMIN).count() == 1
