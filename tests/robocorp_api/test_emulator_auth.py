from __future__ import annotations

import pytest
import requests

from .emu_helpers import Api, error

NO_SUCH = "00000000-0000-4000-8000-000000000000"


def test_workspace_get_and_401s(emu):
    api = Api(emu)
    answer = api.get("")
    assert answer.status_code == 200
    assert answer.json()["id"] == emu.workspace_id
    url = api.url("processes")
    assert error(requests.get(url, timeout=5), 401)["code"] == "unauthorized"
    assert error(
        requests.get(url, headers={"Authorization": "Bearer x"}, timeout=5), 401
    )
    assert error(
        requests.get(url, headers={"Authorization": "RC-WSKEY "}, timeout=5), 401
    )
    unknown = error(
        requests.get(url, headers={"Authorization": "RC-WSKEY not-a-key"}, timeout=5),
        401,
    )
    assert "not-a-key" not in unknown["message"]


def test_wrong_workspace_is_403(emu):
    api = Api(emu)
    answer = api.session.get(
        f"{emu.api_base_url}/workspaces/{NO_SUCH}/processes", timeout=5
    )
    assert "workspace" in error(answer, 403)["message"]


def test_permission_checked_before_existence(emu):
    process = emu.store.add_process("Auth Check")
    reader = Api(emu, emu.create_key(["Processes.read_work_items"]))
    writer = Api(emu, emu.create_key(["write_work_items", "Processes.read_runs"]))
    # missing permission: 403 even for an id that does not exist
    forbidden = error(reader.put(f"work-items/{NO_SUCH}/payload", {"payload": 1}), 403)
    assert forbidden["message"] == "Missing permission Processes.write_work_items"
    # permission present: 404 for the same nonexistent id
    error(writer.put(f"work-items/{NO_SUCH}/payload", {"payload": 1}), 404)
    error(
        reader.post(
            f"process-runs/{NO_SUCH}/stop",
            {
                "set_remaining_work_items_as_done": False,
                "terminate_ongoing_activity_runs": False,
            },
        ),
        403,
    )
    error(reader.delete(f"webhooks/{NO_SUCH}"), 403)
    error(reader.get(f"step-runs/{NO_SUCH}/artifacts"), 403)
    assert reader.get("work-items", limit=1).status_code == 200
    error(reader.get("process-runs", limit=1), 403)
    assert writer.get("process-runs", limit=1).status_code == 200
    error(
        reader.post("work-items", {"process": {"id": process.id}, "payload": {}}), 403
    )
    assert (
        writer.post(
            "work-items", {"process": {"id": process.id}, "payload": {"a": 1}}
        ).status_code
        == 200
    )


def test_admin_key_endpoint_validates_permissions(emu):
    created = requests.post(
        f"{emu.url}/__emulator__/keys",
        json={"permissions": ["read_runs", "Webhooks.read_webhooks"]},
        timeout=5,
    )
    assert created.status_code == 200
    key = created.json()["key"]
    assert Api(emu, key).get("webhooks").status_code == 200
    assert error(
        requests.post(
            f"{emu.url}/__emulator__/keys",
            json={"permissions": ["Processes.read_webhooks"]},
            timeout=5,
        ),
        400,
    )
    assert error(
        requests.post(
            f"{emu.url}/__emulator__/keys",
            json={"permissions": "read_runs"},
            timeout=5,
        ),
        400,
    )


def test_bad_input_never_500_or_html(emu):
    api = Api(emu)
    process = emu.store.add_process("Bad Input")
    cases = [
        api.session.post(api.url("work-items"), data=b"{not json", timeout=5),
        api.session.post(api.url("work-items"), data=b"[1,2]", timeout=5),
        api.session.post(api.url("work-items"), data=b"\xff\xfe", timeout=5),
        api.post("work-items", {"process": {"id": 5}, "payload": 1}),
        api.post("work-items", {"process": {"id": process.id}}),
        api.get("work-items", limit="x"),
        api.get("work-items", limit=0),
        api.get("work-items", state="bogus"),
        api.get("work-items", cursor="%%%"),
        api.get("process-runs", cursor="dzox"),
        api.get("step-runs"),
        api.post(f"processes/{process.id}/process-runs", {"type": "nope"}),
        api.post(f"processes/{process.id}/process-runs", [1]),
        api.post(
            f"processes/{process.id}/process-runs",
            {
                "callback": {
                    "url": "ftp://x",
                    "secret": "s",
                    "callback_events": ["started"],
                }
            },
        ),
        api.post(
            "work-items/batch", {"batch_operation": "explode", "work_item_ids": []}
        ),
        api.post(
            "work-items/batch", {"batch_operation": "retry", "work_item_ids": "abc"}
        ),
        api.post(
            "work-items/batch", {"batch_operation": "retry", "work_item_ids": [1, 2]}
        ),
        api.post(
            "webhooks",
            {
                "endpoint": "not a url",
                "enabled_events": ["process_run.started"],
                "process": {"id": process.id},
            },
        ),
        api.post(
            "webhooks",
            {
                "endpoint": "http://x.test/h",
                "enabled_events": ["nope"],
                "process": {"id": process.id},
            },
        ),
    ]
    for answer in cases:
        assert 400 <= answer.status_code < 500, (
            answer.request.url,
            answer.status_code,
            answer.text,
        )
        assert answer.headers["Content-Type"].startswith("application/json")
        assert "error" in answer.json()
    assert error(api.get("no/such/thing"), 404)["code"] == "not_found"
    assert error(requests.get(f"{emu.url}/nothing-here", timeout=5), 404)
    assert (
        error(api.session.patch(api.url("work-items"), timeout=5), 405)["code"]
        == "method_not_allowed"
    )
    assert error(api.delete("work-items"), 405)


# Serial: under pytest-xdist a browser or schemathesis test on another worker took the CPU and
# it measured 33 req/s (it passes alone on the same loaded machine).
@pytest.mark.serial
def test_keep_alive_is_fast(emu):
    """No Nagle/delayed-ACK stall: well over 1000 small keep-alive requests per second (we measure ~1,200-1,500)."""
    import time

    api = Api(emu)
    url = api.url("")
    api.session.get(url, timeout=5)
    count, started = 0, time.perf_counter()
    while count < 300:
        api.session.get(url, timeout=5)
        count += 1
    elapsed = time.perf_counter() - started
    # A stall (Nagle + delayed ACK) costs ~40 ms a request: at most 25 req/s. 100 catches it
    # and still passes on a CPU shared with other processes (250-300 req/s measured there).
    assert count / elapsed > 100, f"{count / elapsed:.0f} req/s — keep-alive stall?"
