"""The dry run (service and command) over real attempt history from the emulator."""

from __future__ import annotations

import subprocess

import pytest

from dashboard.policies.dryrun import dry_run
from tests.dashboard.mirror.test_occurrences import retry_all
from tests.dashboard.policies.conftest import seed_outage
from tests.dashboard.support.sync import full_sync

pytestmark = [pytest.mark.emulator]


def outage_with_history(ws, emu, bob, *, rounds: int) -> None:
    seed_outage(emu, 3, retry_failure_rate=1.0)
    full_sync(ws)
    for _ in range(rounds):
        retry_all(ws, bob)
        emu.advance(3600)
        full_sync(ws)


def test_the_dry_run_counts_items_attempts_and_give_ups(db, ws, emu, bob, make_policy):
    outage_with_history(ws, emu, bob, rounds=3)  # each item failed 4 times
    policy = make_policy(enable=False, max_attempts=3)
    result = dry_run(policy, [], 7)
    assert (result.items, result.failures, result.attempts) == (3, 12, 9)
    assert result.gives_up == 3
    assert [(r.code, r.retried, r.succeeded) for r in result.rates] == [
        ("HTTP_ERROR", 9, 0)
    ]
    assert result.percent == 0


def test_the_dry_run_respects_the_match_and_the_hourly_cap(
    db, ws, emu, bob, make_policy
):
    outage_with_history(ws, emu, bob, rounds=1)
    assert (
        dry_run(
            make_policy(enable=False, name="Other codes", exception_codes=["X"]), [], 7
        ).items
        == 0
    )
    capped = make_policy(
        enable=False, name="Capped", max_items_per_hour=1, backoff_minutes=[0]
    )
    result = dry_run(capped, [], 7)
    assert result.attempts == 6
    assert result.held_by_hourly_cap >= 4


@pytest.mark.django_db(transaction=True)  # the command runs in a subprocess
def test_the_command_prints_the_replay_and_refuses_a_bad_id(
    ws, emu, bob, make_policy, manage_py, subprocess_env
):
    outage_with_history(ws, emu, bob, rounds=1)
    policy = make_policy(enable=False)
    done = subprocess.run(
        [*manage_py, "policy_dry_run", str(policy.pk), "--days", "7"],
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "3 items, 6 failures matched; 6 retries" in done.stdout
    assert "HTTP_ERROR: 0 of 3 past retries succeeded (0%)" in done.stdout
    bad = subprocess.run(
        [*manage_py, "policy_dry_run", "999999"],
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode != 0
    assert (
        bad.stderr.strip().splitlines()[-1] == "CommandError: No retry policy 999999."
    )


def test_a_dry_run_longer_than_the_kept_history_says_so(db, ws, make_policy, settings):
    settings.WORKROOM_SYNC_HISTORY_DAYS = 14
    policy = make_policy(enable=False)
    assert dry_run(policy, [], 30).beyond_history
    assert not dry_run(policy, [], 7).beyond_history


def test_the_dry_run_warns_about_process_names_no_workspace_has(
    db, ws, emu, bob, make_policy
):
    outage_with_history(ws, emu, bob, rounds=1)
    policy = make_policy(enable=False, process_names=["Order Intake", "Order intake"])
    result = dry_run(policy, [], 7)
    assert result.unknown_processes == ["Order intake"]
    assert result.items == 3
