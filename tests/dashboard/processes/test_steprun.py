"""A step run's outputs read live through the client: console (paged, both orders), events,
and artifacts downloaded through Workroom (streamed, permission-checked)."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from dashboard.processes import services
from tests.dashboard.support.sync import full_sync
from tests.dashboard.support.workspaces import workspace_on_emulator

pytestmark = [pytest.mark.emulator, pytest.mark.django_db]


@pytest.fixture
def finished(emu, ws) -> Any:
    """A finished run with failures; returns its (emulator) first step run."""
    proc = emu.store.add_process("Claims", item_seconds=1.0, failure_rate=0.5)
    run = emu.store.create_run(proc.id, payloads=[{"k": k} for k in range(150)])
    emu.advance(36000)
    full_sync(ws)
    return emu.store.step_runs[emu.store.runs[run.idx].step_runs[0]]


def _url(ws: Any, emu: Any, step: Any, **query: Any) -> str:
    run = emu.store.runs[step.run_idx]
    url = reverse("processes-steprun-detail", args=[ws.pk, run.id, step.id])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def _console_lines(html: str) -> list[str]:
    start = html.index('<section id="console"')
    section = html[start : html.index("</section>", start)]
    return [part.split("</span>")[0] for part in section.split("</time> <span>")[1:]]


def test_console_pages_equal_the_emulators_messages_in_both_orders(
    client_for, carol, ws, emu, finished
):
    messages = [m for _, m in finished.console]
    assert len(messages) > 200
    client = client_for(carol)
    first = client.get(_url(ws, emu, finished)).content.decode()
    assert _console_lines(first) == [escape(m) for m in messages[:100]]
    second = client.get(_url(ws, emu, finished, page=2)).content.decode()
    assert _console_lines(second) == [escape(m) for m in messages[100:200]]
    newest = client.get(_url(ws, emu, finished, order="newest")).content.decode()
    assert _console_lines(newest) == [escape(m) for m in reversed(messages)][:100]
    assert f"{len(messages)} messages" in newest


def test_console_partial_for_htmx(client_for, carol, ws, emu, finished):
    response = client_for(carol).get(
        _url(ws, emu, finished, order="newest"),
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="console",
    )
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="console"')
    assert "<h2>Events</h2>" not in html


def test_events_and_failed_items_are_shown(client_for, carol, ws, emu, finished):
    html = client_for(carol).get(_url(ws, emu, finished)).content.decode()
    events = html[html.index('<section id="events">') :]
    for _, event_type, _data in finished.events:
        assert f"<code>{event_type}</code>" in events
    assert events.count("<li>") >= len(finished.events)
    assert 'id="failed-items"' in html


def test_artifact_download_streams_the_emulators_bytes(
    client_for, carol, ws, emu, finished
):
    run = emu.store.runs[finished.run_idx]
    client = client_for(carol)
    page = client.get(_url(ws, emu, finished)).content.decode()
    for artifact in finished.artifacts:
        url = reverse(
            "processes-artifact-download",
            args=[ws.pk, run.id, finished.id, artifact.id],
        )
        assert url in page
        response = client.get(url)
        assert response.status_code == 200
        assert response.streaming
        assert b"".join(response.streaming_content) == artifact.data
        assert (
            response["Content-Disposition"] == f'attachment; filename="{artifact.name}"'
        )
        assert response["Content-Type"] == "application/octet-stream"


def test_missing_read_run_outputs_is_named_and_download_refused(
    client_for, charlie, team_b, emu, finished
):
    limited = workspace_on_emulator(
        emu,
        team_b,
        name="Limited",
        api_key=emu.create_key(["read_processes", "read_runs", "read_work_items"]),
        added_by=charlie,
    )
    full_sync(limited)
    run = emu.store.runs[finished.run_idx]
    client = client_for(charlie)
    html = client.get(_url(limited, emu, finished)).content.decode()
    assert "lacks the permission Processes.read_run_outputs" in html
    url = reverse(
        "processes-artifact-download",
        args=[limited.pk, run.id, finished.id, finished.artifacts[0].id],
    )
    response = client.get(url, follow=True)
    assert (
        "lacks the permission Processes.read_run_outputs" in response.content.decode()
    )
    assert not getattr(response, "streaming", False)


def test_an_unknown_artifact_is_404(client_for, carol, ws, emu, finished):
    run = emu.store.runs[finished.run_idx]
    url = reverse(
        "processes-artifact-download", args=[ws.pk, run.id, finished.id, "nope"]
    )
    assert client_for(carol).get(url).status_code == 404


def test_another_team_cannot_read_or_download(
    client_for, charlie, team_b, ws, emu, finished
):
    run = emu.store.runs[finished.run_idx]
    client = client_for(charlie)
    assert client.get(_url(ws, emu, finished)).status_code == 404
    url = reverse(
        "processes-artifact-download",
        args=[ws.pk, run.id, finished.id, finished.artifacts[0].id],
    )
    assert client.get(url).status_code == 404


def test_a_step_run_of_another_run_is_404(client_for, carol, ws, emu, finished):
    other = emu.store.create_run(emu.store.processes[-1].id, payloads=[{}])
    url = reverse("processes-steprun-detail", args=[ws.pk, other.id, finished.id])
    assert client_for(carol).get(url).status_code == 404


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("log.html", 'attachment; filename="log.html"'),
        ('../../etc/pa"ss\r\nX: y', 'attachment; filename="pa_ss_X_ y"'),
        (
            "résumé 2024.pdf",
            "attachment; filename=\"resume 2024.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9%202024.pdf",
        ),
        (
            "日本.txt",
            "attachment; filename=\".txt\"; filename*=UTF-8''%E6%97%A5%E6%9C%AC.txt",
        ),
        ("...", 'attachment; filename="artifact"'),
    ],
)
def test_content_disposition_is_sanitised(name, expected):
    assert services.content_disposition(name) == expected


def escape(text: str) -> str:
    from django.utils.html import escape as django_escape

    return str(django_escape(text))
