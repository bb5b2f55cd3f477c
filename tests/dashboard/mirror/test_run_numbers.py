"""Run numbers: each process's runs counted oldest first, stable once given, shown on the pages."""

from __future__ import annotations

import pytest
from django.urls import reverse

from dashboard.mirror.models import ProcessRun, SyncRun
from dashboard.mirror.services.runnumbers import number_new_runs
from dashboard.mirror.services.syncruns import sync_request, sync_run_execute
from tests.dashboard.support.sync import full_sync

pytestmark = [pytest.mark.django_db, pytest.mark.emulator]


def _numbers(ws, process_id: str) -> list[tuple[str, int | None]]:
    return list(
        ProcessRun.objects.filter(workspace=ws, process_external_id=process_id)
        .order_by("created_at", "id")
        .values_list("external_id", "number")
    )


def _start_runs(emu, proc, n: int) -> list[str]:
    ids = []
    for k in range(n):
        ids.append(emu.store.create_run(proc.id, payloads=[{"k": k}]).id)
        emu.advance(5)  # distinct creation times
    return ids


def test_a_sync_numbers_each_process_s_runs_oldest_first(emu, ws):
    invoices = emu.store.add_process("Invoices", item_seconds=1.0, failure_rate=0.0)
    orders = emu.store.add_process("Orders", item_seconds=1.0, failure_rate=0.0)
    invoice_runs = _start_runs(emu, invoices, 3)
    order_runs = _start_runs(emu, orders, 2)

    sync_run = sync_request(workspace=ws, trigger=SyncRun.Trigger.MANUAL)
    sync_run_execute(sync_run_id=sync_run.pk)

    assert _numbers(ws, invoices.id) == list(zip(invoice_runs, [1, 2, 3], strict=True))
    assert _numbers(ws, orders.id) == list(zip(order_runs, [1, 2], strict=True))


def test_numbers_never_change_and_new_runs_follow(emu, ws):
    proc = emu.store.add_process("Invoices", item_seconds=1.0, failure_rate=0.0)
    first = _start_runs(emu, proc, 2)
    full_sync(ws)  # numbers the runs as the sync's receiver does
    assert _numbers(ws, proc.id) == list(zip(first, [1, 2], strict=True))
    assert number_new_runs(ws.pk) == 0  # idempotent

    later = _start_runs(emu, proc, 1)
    full_sync(ws)
    number_new_runs(ws.pk)
    assert _numbers(ws, proc.id) == list(zip(first + later, [1, 2, 3], strict=True))


def test_a_run_seen_late_takes_the_next_number_instead_of_shifting_others(emu, ws):
    proc = emu.store.add_process("Invoices", item_seconds=1.0, failure_rate=0.0)
    old, newer = _start_runs(emu, proc, 2)
    full_sync(ws)
    number_new_runs(ws.pk)
    # Pretend Workroom had not seen the older run yet: it is numbered after the newer one.
    ProcessRun.objects.filter(workspace=ws, external_id=old).update(number=None)
    ProcessRun.objects.filter(workspace=ws, external_id=newer).update(number=1)
    number_new_runs(ws.pk)
    numbers = dict(_numbers(ws, proc.id))
    assert numbers == {newer: 1, old: 2}


def test_the_run_pages_show_the_number(client_for, carol, ws, emu):
    proc = emu.store.add_process("Invoices", item_seconds=1.0, failure_rate=0.0)
    _start_runs(emu, proc, 1)
    full_sync(ws)
    number_new_runs(ws.pk)
    second = emu.store.create_run(proc.id, payloads=[{"k": 9}])
    # The run page reads a run it has not mirrored yet, and numbers it there and then.
    page = client_for(carol).get(
        reverse("processes-run-detail", args=[ws.pk, second.id])
    )
    assert page.status_code == 200
    assert 'id="run-number"' in page.content.decode()
    assert "#2</span> of Invoices" in page.content.decode()
    listing = client_for(carol).get(reverse("processes-run-list"))
    assert '<span class="wr-run-no">#2</span>' in listing.content.decode()
    assert '<span class="wr-run-no">#1</span>' in listing.content.decode()
