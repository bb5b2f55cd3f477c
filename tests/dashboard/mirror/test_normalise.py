"""message_signature: the same failure with other ids, numbers, dates or emails groups together."""

from __future__ import annotations

import pytest

from dashboard.mirror.normalise import SIGNATURE_MAX_LENGTH, message_signature


@pytest.mark.parametrize(
    ("message", "signature"),
    [
        ("Order 48213 not found in SAP", "Order <n> not found in SAP"),
        (
            "Timeout after 30000 ms waiting for element #submit",
            "Timeout after <n> ms waiting for element #submit",
        ),
        (
            "Customer jane.doe@example.com has no VAT id",
            "Customer <email> has no VAT id",
        ),
        (
            "Invoice dated 2024-05-01T12:30:00Z rejected",
            "Invoice dated <date> rejected",
        ),
        ("Due 01.05.2024 at 12:30", "Due <date> at <time>"),
        ("Item 7c1e9f2a-1111-4222-8333-444455556666 locked", "Item <uuid> locked"),
        ("Hash deadbeef42 and ticket AB12CD34EF", "Hash <id> and ticket <id>"),
        ("See https://sap.example.com/x?id=5   now", "See <url> now"),
        ("Amount 1,234.50 EUR exceeds limit", "Amount <n> EUR exceeds limit"),
        ("", ""),
        (None, ""),
    ],
)
def test_it_strips_variable_parts(message, signature):
    assert message_signature(message) == signature


def test_messages_that_differ_only_in_variable_parts_share_a_signature():
    first = message_signature("Customer a@b.com: order 12 of 2024-01-02 failed")
    second = message_signature(
        "Customer zed@example.org: order 99871 of 2025-12-31 failed"
    )
    assert first == second


def test_different_failures_keep_different_signatures():
    assert message_signature("Order 1 not found in SAP") != message_signature(
        "Order 1 not found in CRM"
    )


def test_it_is_cut_to_the_column_size():
    assert len(message_signature("word " * 200)) == SIGNATURE_MAX_LENGTH
