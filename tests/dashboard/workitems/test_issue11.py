"""Issue 11 (j): a too-large payload edit names the limit, in the editor (1.8 MB, over the
editor's limit) and on a page of its own (4.9 MB, over Django's request limit)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from dashboard.mirror.models import WorkItem
from dashboard.workitems.views import _csv_safe

pytestmark = [pytest.mark.django_db, pytest.mark.emulator]
HX = {"HTTP_HX_REQUEST": "true"}


@pytest.mark.parametrize(
    ("size", "status", "expected"),
    [
        (1_800_000, 400, "the editor takes at most 1,000,000 characters"),
        (4_900_000, 413, "at most 2.5\xa0MB of form data"),
    ],
)
def test_a_too_large_payload_names_the_limit(
    client_for, bob, emu_ws, size, status, expected
):
    item = WorkItem.objects.filter(workspace=emu_ws).first()
    assert item is not None
    url = reverse("workitems-item-payload", args=[item.pk])
    payload = '{"x": "' + "a" * size + '"}'
    for extra in ({}, HX):
        response = client_for(bob).post(url, {"payload": payload}, **extra)
        assert response.status_code in (status, 200)
        assert expected in response.content.decode()


@pytest.mark.parametrize(
    "cell",
    [
        "=1+1",
        ' =HYPERLINK("http://x")',
        "\t=cmd",
        "\r+1",
        "\n@SUM(A1)",
        "   -2+3",
        "\u00a0=1",
        "\tplain",
    ],
)
def test_csv_cells_that_a_spreadsheet_would_evaluate_are_neutralised(cell):
    # Issue 11 (i): " =" (a space, then =) was exported as a live formula.
    assert _csv_safe(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["plain", "a=b", "", " text", 5, None])
def test_other_csv_cells_are_unchanged(cell):
    assert _csv_safe(cell) == cell
