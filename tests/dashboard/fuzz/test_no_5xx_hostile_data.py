"""Issue 11 deliverable 2: the webhook receiver, and the sync and pages fed hostile Control Room
answers (ids with "/", "..", control characters; huge and deep payloads; HTML), give no 5xx.

The emulator's store is filled directly, as Control Room could answer anything.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from dashboard.mirror.models import WorkItem
from dashboard.mirror.services.webhooks import signature_for, webhooks_register
from robocorp_api.emulator.store import Artifact
from tests.dashboard.fuzz.conftest import World
from tests.dashboard.fuzz.strategies import deep_json, fuzz_settings, hostile_text
from tests.dashboard.support.sync import full_sync

pytestmark = [pytest.mark.django_db, pytest.mark.emulator, pytest.mark.slow]

SCRIPT = "<script>alert(1)</script>"

hostile_id = st.one_of(
    st.sampled_from(
        [
            "a/b",
            "..",
            ".",
            "a\x00b",
            "tab\there",
            "\u202eevil",
            SCRIPT,
            "x" * 300,  # longer than the mirror's id columns: left out of the mirror
            "~AA",
        ]
    ),
    st.text(min_size=1, max_size=60),
)
json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    hostile_text,
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(hostile_text, inner, max_size=4)
    ),
    max_leaves=20,
)
payload = st.one_of(
    json_value,
    st.sampled_from([0, 50, 400]).map(lambda d: json.loads(deep_json(d) or "null")),
    st.just({"big": "x" * 300_000}),
)


def _strip_to_run(world: World, data: dict[str, Any]) -> Any:
    """Make a failed run in the emulator, then give it the hostile names and ids."""
    store = world.emu.store
    process = store.add_process(
        data["process_name"], item_seconds=1.0, failure_rate=1.0
    )
    run = store.create_run(process.id, payloads=[data["payload"], {"n": 1}])
    assert run is not None
    world.emu.advance(600)
    with store.lock:
        if data["run_id"] not in store.run_by_id:
            del store.run_by_id[run.id]
            run.id = data["run_id"]
            store.run_by_id[run.id] = run.idx
        for idx in run.step_runs:
            step = store.step_runs[idx]
            store.step_run_outputs(step)
            new_id = data["run_id"] + "/" + str(idx)
            del store.step_run_by_id[step.id]
            step.id = new_id
            store.step_run_by_id[new_id] = idx
            assert step.console is not None and step.artifacts is not None
            step.console.append((store.now(), data["text"]))
            step.artifacts.append(
                Artifact(id=data["artifact_id"], name=data["text"], data=b"x")
            )
        store.exceptions.append(("application", data["text"][:50], data["text"]))
        for row in run.items:
            store.items.exc[row] = len(store.exceptions) - 1
    return run


def _pages(world: World, run: Any) -> list[str]:
    workspace = world.workspaces[0]
    store = world.emu.store
    urls = [
        reverse("workitems-item-list"),
        reverse("workitems-triage"),
        reverse("processes-run-list"),
        reverse("processes-overview"),
        reverse("mirror-workspace-overview", args=[workspace.pk]),
        reverse("bulk-new"),
        reverse("processes-run-detail", args=[workspace.pk, run.id]),
    ]
    for idx in run.step_runs:
        step = store.step_runs[idx]
        urls.append(
            reverse("processes-steprun-detail", args=[workspace.pk, run.id, step.id])
        )
        for artifact in step.artifacts or []:
            urls.append(
                reverse(
                    "processes-artifact-download",
                    args=[workspace.pk, run.id, step.id, artifact.id],
                )
            )
    if "\x00" not in run.id:  # the mirror leaves out what it cannot store (and query)
        for item in WorkItem.objects.filter(process_run__external_id=run.id):
            urls.append(reverse("workitems-item-detail", args=[item.pk]))
    return urls


@fuzz_settings(default_examples=6)
@given(
    data=st.fixed_dictionaries(
        {
            "process_name": hostile_text.filter(bool),
            "run_id": hostile_id,
            "artifact_id": hostile_id,
            "text": hostile_text,
            "payload": payload,
        }
    )
)
def test_hostile_control_room_data_gives_no_5xx(world: World, data: dict[str, Any]):
    run = _strip_to_run(world, data)
    full_sync(world.workspaces[0])
    for role in ("viewer", "operator"):
        client = world.clients[role]
        for url in _pages(world, run):
            with transaction.atomic():
                response = client.get(url)
            body = (
                b"".join(getattr(response, "streaming_content", []))
                if getattr(response, "streaming", False)
                else response.content
            )
            assert response.status_code < 500 or (
                response.status_code == 503 and "/runs/" in url
            ), (url, response.status_code)
            assert SCRIPT.encode() not in body, url


webhook_body = st.one_of(
    json_value.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=200),
    st.sampled_from([0, 40, 5000, 30_000]).map(lambda d: deep_json(d).encode()),
    st.builds(
        lambda event_id, stamp, run_id: json.dumps(
            {
                "id": event_id,
                "webhookEventTimestamp": stamp,
                "event": "process_run.completed",
                "payload": {"processRunId": run_id},
            }
        ).encode(),
        json_value,
        st.one_of(st.just(timezone.now().isoformat()), hostile_text),
        json_value,
    ),
)


@fuzz_settings(default_examples=40)
@given(body=webhook_body, signed=st.booleans(), signature=hostile_text)
def test_the_webhook_receiver_gives_no_5xx(
    world: World, body: bytes, signed: bool, signature: str
):
    workspace = world.workspaces[0]
    if not world.emu.store.webhooks:
        webhooks_register(workspace, None, endpoint="http://127.0.0.1:9/hooks/")
    secret = next(iter(world.emu.store.webhooks.values())).secret
    url = reverse("mirror-webhook-receive", args=[workspace.uid])
    header = signature_for(secret, body) if signed else signature.replace("\n", "")
    with transaction.atomic():
        response = world.clients["anonymous"].post(
            url,
            body,
            content_type="application/json",
            headers={"x-rc-signature": header.encode("ascii", "replace").decode()},
        )
    assert response.status_code < 500
