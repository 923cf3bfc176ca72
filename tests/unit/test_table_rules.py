"""A batch checked on its table passes exactly when every one of its records passes its own checks."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pyarrow as pa
import pytest

from api.ingest.rules import CHECKS, TimeWindow
from api.ingest.streams import STREAMS
from api.ingest.table_rules import all_pass
from tests import factories as f

NOW = datetime.now(UTC)
WINDOW = TimeWindow(timedelta(days=10), timedelta(hours=1), timedelta(days=100))
HOUR_AGO = (NOW - timedelta(hours=1)).isoformat()
GOOD: dict[str, Callable[..., dict[str, Any]]] = {
    "sale": lambda **o: f.sale("e1", **{"purchased_at": HOUR_AGO, **o}),
    "attendance": lambda **o: f.scan("e1", **{"scanned_at": HOUR_AGO, **o}),
    "revenue": lambda **o: f.revenue("e1", **{"recorded_at": HOUR_AGO, **o}),
    "social": lambda **o: f.social("e1", **{"posted_at": HOUR_AGO, **o}),
}


def _typed(stream: str, records: list[dict[str, Any]]) -> list[Any]:
    """As the JSON path decodes them."""
    typed: list[Any] = msgspec.json.decode(json.dumps(records), type=list[STREAMS[stream].record_type])  # type: ignore[misc]
    return typed


def _iso(delta: timedelta) -> str:
    return (NOW + delta).isoformat()


# (stream, the last record's fields, whether it passes)
CASES: list[tuple[str, dict[str, Any], bool]] = [
    ("sale", {}, True),
    ("sale", {"purchased_at": _iso(timedelta(minutes=50))}, True),
    ("sale", {"purchased_at": _iso(timedelta(hours=2))}, False),
    ("sale", {"purchased_at": _iso(-timedelta(days=11))}, False),
    ("sale", {"purchased_at": (NOW + timedelta(hours=-3)).astimezone().isoformat()}, True),
    ("sale", {"unit_price": "0"}, True),
    ("sale", {"unit_price": "-0.01"}, False),
    ("sale", {"currency": "XYZ"}, False),
    ("sale", {"buyer": {"country": "XX"}}, False),
    ("sale", {"buyer": {"country": "FR", "birth_year": NOW.year}}, True),
    ("sale", {"buyer": {"birth_year": NOW.year + 1}}, False),
    ("sale", {"buyer": None}, True),
    ("attendance", {"scanned_at": _iso(timedelta(hours=2))}, False),
    ("attendance", {"direction": "exit"}, True),
    ("revenue", {"category": "refund", "amount": "-5.00"}, True),
    ("revenue", {"category": "refund", "amount": "5.00"}, False),
    ("revenue", {"category": "fees", "amount": "-5.00"}, False),
    ("revenue", {"amount": "9999999999.99"}, True),
    ("revenue", {"amount": "10000000000"}, False),
    ("revenue", {"currency": "ABC"}, False),
    ("social", {"posted_at": _iso(-timedelta(days=11))}, False),
    ("social", {"sentiment": -1}, True),
]


@pytest.mark.parametrize(("stream", "last", "passes"), CASES)
def test_the_table_passes_only_when_every_record_does(stream: str, last: dict[str, Any], passes: bool) -> None:
    records = [GOOD[stream]() for _ in range(5)] + [GOOD[stream](**last)]
    typed = _typed(stream, records)
    check = CHECKS[STREAMS[stream].record_type]
    assert all(not check(record, WINDOW, NOW) for record in typed) is passes  # the case is what it says
    assert all_pass(stream, STREAMS[stream].table_of(typed), WINDOW, NOW) is passes


def test_money_of_more_than_two_places_cannot_become_a_table() -> None:
    """The service counts on this: such a batch is checked record by record, which names the field."""
    sales = _typed("sale", [GOOD["sale"](unit_price="1.234")])
    with pytest.raises(pa.ArrowInvalid):
        STREAMS["sale"].table_of(sales)


def test_a_time_at_the_windows_edge_is_left_to_the_record_checks() -> None:
    """The table's times are whole milliseconds: within one of an edge, the table does not decide."""
    edge = NOW + WINDOW.max_future_facts
    social = _typed("social", [GOOD["social"](posted_at=edge.isoformat())])
    assert not CHECKS[STREAMS["social"].record_type](social[0], WINDOW, NOW)
    assert all_pass("social", STREAMS["social"].table_of(social), WINDOW, NOW) is False
