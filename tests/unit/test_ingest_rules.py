"""The ingest contract's rules beyond types."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import msgspec
import pytest

from api.ingest.decoding import MalformedBody, decode_json, decode_ndjson
from api.ingest.rules import TimeWindow, check_revenue, money
from api.ingest.schemas import Revenue, Sale

WINDOW = TimeWindow(timedelta(days=10), timedelta(hours=1), timedelta(days=100))
NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("12.30", None), ("12.300", None), ("0", None), ("12.345", "has more than 2 decimal places"),
        ("-1", "must not be negative"), ("1e30", "is out of range"), ("NaN", "must be a finite amount"),
        ("9999999999.99", None), ("10000000000", "is out of range"),
    ],
)  # fmt: skip
def test_money(value: str, problem: str | None) -> None:
    assert money("price", Decimal(value)) == ([("price", problem)] if problem else [])


def _revenue(category: str, amount: str, recorded_at: datetime = NOW) -> Revenue:
    return msgspec.convert(
        {"revenue_id": "r", "event_id": "e", "category": category, "amount": amount, "currency": "EUR",
         "recorded_at": recorded_at.isoformat()},
        Revenue,
    )  # fmt: skip


def test_refunds_are_negative_and_everything_else_is_not() -> None:
    assert check_revenue(_revenue("refund", "-5.00"), WINDOW, NOW) == []
    assert check_revenue(_revenue("refund", "5.00"), WINDOW, NOW) == [("amount", "a refund is negative (or zero)")]
    assert check_revenue(_revenue("fees", "-5.00"), WINDOW, NOW) == [("amount", "must not be negative")]


def test_time_window() -> None:
    assert check_revenue(_revenue("fees", "1", NOW + timedelta(minutes=59)), WINDOW, NOW) == []
    late = check_revenue(_revenue("fees", "1", NOW + timedelta(hours=2)), WINDOW, NOW)
    assert late == [("recorded_at", "is more than 1 hours in the future")]
    early = check_revenue(_revenue("fees", "1", NOW - timedelta(days=11)), WINDOW, NOW)
    assert early == [("recorded_at", "is more than 10 days in the past")]


def test_decoding_names_each_bad_record_and_field() -> None:
    body = b'[{"sale_id": "a"}, {"sale_id": 5}]'
    decoded = decode_json(body, Sale)
    assert decoded.records == []
    assert [(e.index, e.field) for e in decoded.errors] == [(0, "event_id"), (1, "sale_id")]
    assert decoded.raw_of(1) == b'{"sale_id": 5}'


def test_malformed_bodies_name_the_byte() -> None:
    with pytest.raises(MalformedBody) as truncated:
        decode_json(b'[{"a": 1}', Sale)
    assert truncated.value.position == 9
    with pytest.raises(MalformedBody) as bad_line:
        decode_ndjson(b'{"a": 1}\n{"b": ?}\n', Sale)
    assert bad_line.value.position == 9 + 6
    with pytest.raises(MalformedBody):
        decode_json(b"42", Sale)


def test_a_line_of_two_records_is_malformed_even_when_its_first_is_invalid() -> None:
    """The first's missing fields were reported and the second dropped unseen (NDJSON lines, and a JSON body of one
    object followed by more)."""
    for decode, body, line_start in ((decode_ndjson, b'{"sale_id": 1}\n{"a": 1} {"b": 2}\n', 15),
                                     (decode_json, b'{"a": 1}\n{"b": 2}', 0)):  # fmt: skip
        with pytest.raises(MalformedBody) as raised:
            decode(body, Sale)
        assert "trailing characters" in str(raised.value), str(raised.value)
        assert line_start + 8 <= raised.value.position <= line_start + 10, "at the second value, in the body"
    assert [e.index for e in decode_ndjson(b'{"a": 1}\n{"b": 2}\n', Sale).errors] == [0, 1], "one record a line"
