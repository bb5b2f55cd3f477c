"""Parsing start input: CSV files (one payload per row) and JSON arrays, with clear errors."""

from __future__ import annotations

import pytest

from dashboard.processes import inputs


def test_each_csv_row_becomes_one_payload_of_strings():
    payloads, headers, error = inputs.parse_csv(b"\xef\xbb\xbfid,amount\n1,007\n2,\n\n")
    assert error is None
    assert headers == ["id", "amount"]
    assert payloads == [{"id": "1", "amount": "007"}, {"id": "2", "amount": ""}]


def test_semicolon_csv_is_sniffed():
    payloads, _, error = inputs.parse_csv(b"a;b\n1;2\n")
    assert error is None and payloads == [{"a": "1", "b": "2"}]


def test_quoted_cells_keep_commas_and_newlines():
    payloads, _, error = inputs.parse_csv(b'name,note\n"Doe, Jane","two\nlines"\n')
    assert error is None and payloads == [{"name": "Doe, Jane", "note": "two\nlines"}]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The CSV file is empty."),
        (b"a,b\n", "a header row but no data rows"),
        (b"a,a\n1,2\n", "names a column twice: a"),
        (b"a,,c\n1,2,3\n", "needs a name"),
        (
            b"a,b\n1,2,3\n",
            "Line 2 of the CSV file has 3 cells but the header has 2 columns.",
        ),
        (b"a\n\xff\n", "not UTF-8 text (byte 3)"),
    ],
)
def test_bad_csv_files_are_explained(data, message):
    payloads, _, error = inputs.parse_csv(data)
    assert payloads == [] and error is not None and message in error


def test_too_many_rows_are_refused():
    data = b"n\n" + b"".join(b"%d\n" % i for i in range(inputs.MAX_PAYLOADS + 1))
    _, _, error = inputs.parse_csv(data)
    assert error == f"The CSV file has more than {inputs.MAX_PAYLOADS} rows."


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[]", "The array is empty"),
        ('{"a": 1}', "must be a JSON array"),
        ("[1,\n2,,]", "Line 2, column 3"),
    ],
)
def test_json_arrays_are_checked(text, message):
    values, error = inputs.parse_json_array(text)
    assert values is None and error is not None and message in error
