"""Every page at a laptop's and a phone's width: no horizontal overflow, no console error,
no serious accessibility violation (axe-core).

The pages are found by walking the URLconf, so a new page is covered as soon as it exists: a
URL parameter this test has no sample value for fails the test by name (add it to
`_samples`). Endpoints that only take POST answer 405 to the GET and are left out; the
screenshots are kept under var/test-artifacts/screens/<width>/ for a person to look at.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from playwright.sync_api import Page, expect

from dashboard.accounts.models import Role
from dashboard.accounts.services import create_invitation
from dashboard.alerts.models import Rule
from dashboard.api.tokens import create_token
from dashboard.audit.services import Actor
from dashboard.bulk import drafts
from dashboard.insights.rollups import rebuild_workspace
from dashboard.mirror.models import (
    Process,
    ProcessRun,
    StepRun,
    Worker,
    WorkerGroup,
    WorkItem,
)
from dashboard.policies import services as policies
from dashboard.policies.models import RetryPolicy
from dashboard.workitems.models import SavedView
from tests.dashboard.alerts.conftest import email_channel
from tests.dashboard.factories import add_member, make_team, make_user
from tests.dashboard.support.browser import (
    axe_violations,
    left_the_login_page,
    log_in,
)
from tests.dashboard.support.sync import full_sync
from tests.dashboard.support.workspaces import workspace_on_emulator

pytestmark = [
    pytest.mark.browser,
    pytest.mark.emulator,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

SCREENS = Path(__file__).resolve().parents[3] / "var" / "test-artifacts" / "screens"
WIDTHS = {"laptop": (1400, 900), "phone": (390, 844)}

# Not pages: machine endpoints, downloads, and fragments only htmx polls.
NOT_PAGES = {
    "bulk-progress",
    "workitems-item-collab",
    "healthz",
    "logout",
    "mirror-webhook-receive",
    "processes-artifact-download",
    "fleet-package-download",
    "workitems-item-export",
}


def _routes(patterns: list[Any], prefix: str = "") -> Iterator[tuple[str, list[str]]]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            if pattern.namespace:
                continue  # the JSON API (django-ninja's namespace): not pages
            yield from _routes(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern) and pattern.name:
            route = prefix + str(pattern.pattern)
            yield pattern.name, re.findall(r"<(?:\w+:)?(\w+)>", route)


def _samples(
    team: Any, workspace: Any, admin: Any, emulator: Any
) -> dict[tuple[str, str], Any]:
    """A value for each (url name or "*", parameter), from the seeded mirror."""
    item = WorkItem.objects.filter(workspace=workspace, state="failed").first()
    assert item is not None, "the demo seed has failed items"
    step = StepRun.objects.filter(workspace=workspace).select_related("process_run")
    step_run = step.first()
    assert step_run is not None and step_run.process_run is not None
    process = Process.objects.filter(workspace=workspace).first()
    assert process is not None
    op = drafts.create_draft(admin, action="retry", filter_query="state=failed")
    view = SavedView.objects.create(team=team, name="Failed", query="state=failed")
    invitation, token = create_invitation(team, admin, Role.VIEWER)
    run: ProcessRun = step_run.process_run
    channel = email_channel(team)
    rule = Rule.objects.create(
        team=team, name="Spikes", condition="failure_spike", threshold=10
    )
    rule.channels.add(channel)
    api_token = create_token(
        team, admin, Actor.of(admin), name="nightly", kind="service", role=Role.OPERATOR
    )
    policy = RetryPolicy(name="Retry ERP outages", exception_codes=["HTTP_ERROR"])
    policies.save_policy(Actor.of(admin), team, policy, [workspace])
    admin_client = Client()
    admin_client.force_login(admin)
    admin_client.post(
        reverse("fleet-assets", args=[workspace.pk]), {"asset-name": "settings"}
    )
    asset = next(iter(emulator.store.fleet.assets.values()))
    worker = Worker.objects.filter(workspace=workspace).first()
    group = WorkerGroup.objects.filter(workspace=workspace).first()
    assert worker is not None and group is not None
    return {
        ("fleet-token-update", "token_id"): "link-token-1",  # POST only
        ("fleet-token-delete", "token_id"): "link-token-1",
        ("*", "worker_id"): worker.external_id,
        ("*", "group_id"): group.external_id,
        ("*", "package_id"): 1,  # POST-only pages: answered 405 before any lookup
        ("*", "pending_id"): 1,
        ("*", "asset_id"): asset.id,
        ("*", "policy_id"): policy.pk,
        ("*", "slug"): team.slug,
        ("*", "rule_id"): rule.pk,
        ("*", "channel_id"): channel.pk,
        ("*", "token_id"): api_token.token.pk,
        ("*", "team_slug"): team.slug,
        ("*", "workspace_id"): workspace.pk,
        ("*", "item_id"): item.pk,
        ("*", "run_id"): run.external_id,
        ("*", "step_run_id"): step_run.external_id,
        ("*", "op_id"): op.pk,
        ("*", "view_id"): view.pk,
        ("*", "invitation_id"): invitation.pk,
        ("*", "token"): token,
        ("*", "membership_id"): team.memberships.exclude(user=admin).first().pk,
        ("*", "action"): "retry",
        ("workitems-process-schema", "process_id"): process.pk,
        ("*", "process_id"): process.external_id,
    }


def _pages(samples: dict[tuple[str, str], Any], user: Any) -> list[tuple[str, str]]:
    """Every (url name, url) that answers a GET; POST-only endpoints (405) are left out."""
    client = Client()
    client.force_login(user)
    pages, missing = [], []
    for name, params in _routes(get_resolver().url_patterns):
        if name in NOT_PAGES:
            continue
        kwargs = {}
        for param in params:
            value = samples.get((name, param), samples.get(("*", param)))
            if value is None:
                missing.append(f"{name}: {param}")
            kwargs[param] = value
        if any(m.startswith(f"{name}:") for m in missing):
            continue
        url = reverse(name, kwargs=kwargs)
        if client.get(url).status_code != 405:
            pages.append((name, url))
    assert not missing, f"no sample value for {missing}: add them to _samples()"
    return pages


def _visit(page: Page, base: str, url: str, errors: list[str]) -> int | None:
    errors.clear()
    answer = page.goto(base + url)
    page.wait_for_load_state("networkidle")
    return answer.status if answer is not None else None


def _overflow(page: Page) -> int:
    """How many CSS pixels the page is wider than the window (0: it fits)."""
    return int(
        page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
    )


def test_every_page_fits_a_laptop_and_a_phone_without_console_or_axe_errors(
    live_server: Any, page: Page, emulator_factory: Any
) -> None:
    emu = emulator_factory(seed="demo")
    emu.pause_robots()
    admin = make_user("ada")
    team = make_team("Ops team", admin=admin)
    add_member(team, make_user("otto"), Role.OPERATOR)
    workspace = workspace_on_emulator(emu, team, name="Production", added_by=admin)
    full_sync(workspace)
    rebuild_workspace(workspace.pk)  # the insights pages draw their charts from rollups
    pages = _pages(_samples(team, workspace, admin, emu), admin)
    assert len(pages) > 20

    errors: list[str] = []
    page.on(
        "console",
        lambda message: (
            errors.append(message.text) if message.type == "error" else None
        ),
    )
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, live_server.url, "ada", then=left_the_login_page)

    problems: list[str] = []
    for label, (width, height) in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": height})
        (SCREENS / label).mkdir(parents=True, exist_ok=True)
        for name, url in pages:
            status = _visit(page, live_server.url, url, errors)
            page.screenshot(path=str(SCREENS / label / f"{name}.png"))
            if status != 200:
                problems.append(f"{label} {name} {url}: HTTP {status}")
            if (extra := _overflow(page)) > 0:
                problems.append(
                    f"{label} {name} {url}: {extra} px wider than the screen"
                )
            if re.search(r"\{[#%{]", page.locator("body").inner_text()):
                problems.append(f"{label} {name} {url}: template syntax shown as text")
            if label == "laptop" and (violations := axe_violations(page)):
                problems.append(f"{label} {name} {url}: axe {violations}")
            if errors:
                problems.append(f"{label} {name} {url}: console {errors[:3]}")
    assert not problems, "\n".join(problems)


def test_the_phone_nav_is_a_menu_that_opens(live_server: Any, page: Page) -> None:
    make_user("ada")
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, live_server.url, "ada", then=left_the_login_page)
    work_items = page.get_by_role("link", name="Work items")
    expect(work_items).to_be_hidden()
    page.get_by_text("Menu", exact=True).click()
    expect(work_items).to_be_visible()
    work_items.click()
    expect(page).to_have_url(re.compile(r"/items/$"))
    # At a laptop's width the links are simply there.
    page.set_viewport_size({"width": 1400, "height": 900})
    expect(page.get_by_role("link", name="Work items")).to_be_visible()
    expect(page.get_by_text("Menu", exact=True)).to_be_hidden()
