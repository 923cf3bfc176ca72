"""The rules of `rules.py` over a whole batch of decoded facts at once, on the table they become.

Decoding (msgspec) has already checked every type and bound of `schemas.py`; what is left is `rules.py`'s
checks, a Python call per record (a third of a JSON batch's cost in the API). On the table they take a few
compute calls per batch. Conservative like `columnar.py`: `all_pass` is True only when every row certainly
passes; otherwise the caller checks record by record, which names every problem. Building the table already
refuses money of more than 2 places (and NaN or infinity): its exact cast to the column's decimal raises.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from api.ingest.columnar import all_true, category_signs, in_window, not_negative
from api.ingest.rules import MONEY_LIMIT, TimeWindow, countries, currencies

_MS = timedelta(milliseconds=1)  # the table's times are truncated to milliseconds: narrow the window by one


def _within(table: pa.Table, name: str, window: TimeWindow, now: datetime) -> bool:
    return in_window(table.column(name), window, now, margin=_MS)


def _in(table: pa.Table, name: str, allowed: frozenset[str], *, blank: bool = False) -> bool:
    """Every value one of `allowed` (or "", where the record's field was absent, when `blank`). A batch holds
    few distinct codes: testing those is cheaper than hashing the whole code list against every row."""
    found = set(pc.unique(table.column(name)).to_pylist())
    if blank:
        found.discard("")
    return found <= allowed


def _sales(table: pa.Table, window: TimeWindow, now: datetime) -> bool:
    return (
        _within(table, "purchased_at", window, now)
        and all_true(not_negative(table.column("unit_price")))  # within range: the column's type holds it
        and _in(table, "currency", currencies())
        and ("buyer_country" not in table.column_names or _buyers(table, now))  # a table without buyers lacks them
    )


def _buyers(table: pa.Table, now: datetime) -> bool:
    birth_years = table.column("buyer_birth_year")
    return _in(table, "buyer_country", countries(), blank=True) and all_true(
        pc.fill_null(pc.less_equal(birth_years, now.year), True)
    )


def _revenue(table: pa.Table, window: TimeWindow, now: datetime) -> bool:
    amounts = table.column("amount")
    return (
        _within(table, "recorded_at", window, now)
        and all_true(pc.less(pc.abs(amounts), pa.scalar(MONEY_LIMIT, amounts.type)))
        and all_true(category_signs(table.column("category"), amounts))
        and _in(table, "currency", currencies())
    )


def _timed(name: str) -> Callable[[pa.Table, TimeWindow, datetime], bool]:
    def check(table: pa.Table, window: TimeWindow, now: datetime) -> bool:
        return _within(table, name, window, now)

    return check


_CHECKS: dict[str, Callable[[pa.Table, TimeWindow, datetime], bool]] = {
    "sale": _sales,
    "attendance": _timed("scanned_at"),
    "revenue": _revenue,
    "social": _timed("posted_at"),
}


def all_pass(stream: str, table: pa.Table, window: TimeWindow, now: datetime) -> bool:
    """Whether every row of `table` (a fact stream's records as `Stream.table_of` makes them) passes every
    rule of `rules.py` for certain."""
    return _CHECKS[stream](table, window, now)
