"""Property-based fidelity: schemathesis generates requests from openapi-v1.json for every operation
except assistants (which the emulator does not serve), sends them to the emulator with its workspace id
and key, and checks that no answer is a 5xx and every answer matches the document (schema of the
declared status, JSON content type). `WORKROOM_SCHEMATHESIS_EXAMPLES` (default 12) bounds the
examples per operation, so a run takes well under two minutes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
)
from schemathesis.generation.case import Case

from robocorp_api.emulator import EmulatorServer

from .test_emulator_contract import SPEC_PATH

pytestmark = pytest.mark.emulator
EXAMPLES = int(os.environ.get("WORKROOM_SCHEMATHESIS_EXAMPLES", "12"))

schema = schemathesis.openapi.from_dict(json.loads(SPEC_PATH.read_text())).exclude(
    path_regex="assistant"
)


@pytest.fixture(scope="module")
def seeded() -> Iterator[tuple[EmulatorServer, requests.Session]]:
    """One emulator for the whole run (hypothesis calls the test many times per operation)."""
    with EmulatorServer(host="127.0.0.1", port=0, seed="demo", schedule_every=0) as emu:
        emu.pause_robots()
        session = requests.Session()
        session.headers["Authorization"] = f"RC-WSKEY {emu.api_key}"
        yield emu, session


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_the_emulator_answers_every_operation_as_documented(
    case: Case, seeded: tuple[EmulatorServer, requests.Session]
) -> None:
    emu, session = seeded
    case.path_parameters = {
        **(case.path_parameters or {}),
        "workspace_id": emu.workspace_id,
    }
    response = case.call(
        base_url=emu.api_base_url,
        session=session,
        headers={"Authorization": f"RC-WSKEY {emu.api_key}"},
        timeout=10,
    )
    case.validate_response(
        response,
        checks=[
            not_a_server_error,
            response_schema_conformance,
            content_type_conformance,
        ],
    )
