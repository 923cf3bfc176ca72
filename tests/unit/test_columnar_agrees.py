"""The checks made on whole columns against the record path's, on random tables: whatever the fast path for
Arrow bodies accepts (columnar.py), the record path accepts row by row and writes identically; whatever
batch of decoded records the batch check passes (table_rules.py), every record of it passes its own checks.
(Both may leave more to the record path: they are conservative.)

Random columns of the types a backfill may bring (time units and zones, money as decimals of other scales,
text, integers or floats, dictionary-encoded text), valid but for at most one value, bad or at an edge: a time
at the window's edges, money of three places, a code outside the contract, a count out of range, a null."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa

from api.ingest.columnar import clean_facts
from api.ingest.decoding import decode_table
from api.ingest.rules import CHECKS, TimeWindow
from api.ingest.streams import STREAMS
from api.ingest.table_rules import all_pass

SEED = 20261126
CASES = 3000
NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
WINDOW = TimeWindow(timedelta(days=10), timedelta(hours=1), timedelta(days=100))
TIME_TYPES = [
    pa.timestamp("s", tz="UTC"), pa.timestamp("ms", tz="UTC"), pa.timestamp("us", tz="Europe/Berlin"),
    pa.timestamp("ns", tz="UTC"), pa.timestamp("ms", tz="+05:30"), pa.timestamp("us", tz="America/St_Johns"),
    pa.timestamp("us"),
]  # fmt: skip
GOOD_TIMES = [NOW, NOW - timedelta(days=3, microseconds=777), NOW - timedelta(minutes=5)]
EDGE_TIMES = [
    NOW - timedelta(days=10), NOW - timedelta(days=10, seconds=1), NOW - timedelta(days=10, microseconds=-1),
    NOW + timedelta(hours=1), NOW + timedelta(hours=1, microseconds=1), NOW + timedelta(hours=1, milliseconds=1),
    None,
]  # fmt: skip
GOOD_MONEY = [Decimal("0"), Decimal("49.90"), Decimal("0.01"), Decimal("9999999999.99"), Decimal("1e3")]
EDGE_MONEY = [Decimal("-1.00"), Decimal("-0.00"), Decimal("99999999999.99"), None]
ODD_FLOAT_MONEY = [0.1 + 0.2, 0.125, 1e-7, 49.999999, -0.0, -0.01, 1e10, 1e20, float("nan"), float("inf"), None]


class Columns:
    """Column makers for one table of `rows` rows, good values only but for one: the `odd`-th column made
    gets an edge or bad value in one row (none when `odd` is None or past the last column)."""

    def __init__(self, rnd: random.Random, rows: int, odd: int | None) -> None:
        self.rnd, self.rows, self.odd, self.made = rnd, rows, odd, 0

    def values(self, good: Sequence[Any], bad: Sequence[Any]) -> list[Any]:
        """A column's values, as Python objects (for the makers below and the struct and float columns)."""
        values = [self.rnd.choice(good) for _ in range(self.rows)]
        if self.made == self.odd:
            values[self.rnd.randrange(self.rows)] = self.rnd.choice(bad)
        self.made += 1
        return values

    def text(self, good: Sequence[str | None], bad: Sequence[Any] = ("", " ", "x" * 129, "é" * 129, None)) -> pa.Array:
        values = pa.array(self.values(good, bad), self.rnd.choice((pa.string(), pa.large_string())))
        return values.dictionary_encode() if self.rnd.random() < 0.3 else values

    def integers(self, good: Sequence[int], bad: Sequence[Any]) -> pa.Array:
        values = self.values(good, bad)
        chosen = self.rnd.choice((pa.int8(), pa.int16(), pa.int64(), pa.uint64(), pa.float64()))
        for kind in (chosen, pa.int64(), pa.uint64()):
            try:
                return pa.array(values, kind)
            except (OverflowError, pa.ArrowInvalid):
                continue
        return pa.array([None if v is None else str(v) for v in values])  # -1 and 2**64-1 fit no one type

    def times(self) -> pa.Array:
        return pa.array(self.values(GOOD_TIMES, EDGE_TIMES), self.rnd.choice(TIME_TYPES))

    def money(self) -> pa.Array:
        values = self.values(GOOD_MONEY, EDGE_MONEY)
        mills = [None if v is None else v.quantize(Decimal("0.001")) for v in values]
        makers: list[Callable[[], pa.Array]] = [
            lambda: pa.array(values, pa.decimal128(14, 2)),
            lambda: pa.array(values, pa.decimal256(40, 2)),
            lambda: pa.array(mills, pa.decimal128(20, 3)),
            lambda: pa.array([None if v is None else str(v) for v in values]),
            lambda: pa.array([None if v is None else int(v) for v in values], pa.int64()),
            lambda: pa.array([None if v is None else float(v) for v in values], pa.float64()),
            # Floats as pandas writes money: those of at most 2 places go the column path (api/ingest/columnar.py).
            lambda: pa.array(self.values([49.9, 0.01, 1234.5, 9999999999.99, 0.0], ODD_FLOAT_MONEY), pa.float64()),
            lambda: pa.array(self.values(["1.5", "2"], ["1.555", " 2", "1e2", "NaN", "-0", "+3", "1_000", ""])),
        ]  # fmt: skip
        return self.rnd.choice(makers)()


def _sale(c: Columns) -> dict[str, pa.Array]:
    columns = {
        "sale_id": c.text([f"s{n}" for n in range(50)]), "event_id": c.text(["e1"]),
        "customer_id": c.text(["c1", "é" * 128]),  # 128 characters, 256 bytes: within the limit
        "purchased_at": c.times(), "tier": c.text(["GA", "VIP"], ("", "x" * 65)),
        "quantity": c.integers([1, 2, 1000], [0, -1, 1001, None]), "unit_price": c.money(),
        "currency": c.text(["EUR", "USD"], ("eur", "XXX", "EURO", None)),
        "channel": c.text(["web", "app", "box_office"], ("fax", "WEB", None)),
    }  # fmt: skip
    if c.rnd.random() < 0.4:
        columns["promo_code"] = c.text(["", "SPRING", None], ("x" * 65,))  # null: none, as absent
    if c.rnd.random() < 0.5:
        good = [
            None,
            {"country": "DE", "birth_year": 1990},
            {"country": None, "birth_year": None},
            {"gender": "f", "postal_code": "10115", "city": "Berlin", "region": "BE"},
            {"lat": 90.0, "lon": -180.0},
        ]
        bad = [{"country": "XX"}, {"country": "de"}, {"country": ""}, {"birth_year": 1899}, {"birth_year": 2101},
               {"birth_year": 2030}, {"lat": 91.0}, {"city": "x" * 129}]  # fmt: skip
        columns["buyer"] = pa.array(c.values(good, bad))
    return columns


def _attendance(c: Columns) -> dict[str, pa.Array]:
    return {
        "scan_id": c.text([f"a{n}" for n in range(50)]), "event_id": c.text(["e1"]), "ticket_id": c.text(["t1"]),
        "gate": c.text(["north"], ("", "g" * 65, None)), "direction": c.text(["entry", "exit"], ("in", None)),
        "scanned_at": c.times(),
    }  # fmt: skip


def _revenue(c: Columns) -> dict[str, pa.Array]:
    return {
        "revenue_id": c.text([f"r{n}" for n in range(50)]), "event_id": c.text(["e1"]),
        "category": c.text(["tickets", "refund", "fees"], ("tips", None)), "amount": c.money(),
        "currency": c.text(["EUR"], ("XXX", None)), "recorded_at": c.times(),
    }  # fmt: skip


def _social(c: Columns) -> dict[str, pa.Array]:
    columns = {
        "post_id": c.text([f"p{n}" for n in range(50)]), "event_id": c.text(["e1"]),
        "platform": c.text(["x", "instagram"], ("myspace", None)), "kind": c.text(["post", "like"], ("poke", None)),
        "posted_at": c.times(), "reach": c.integers([0, 5, 2**63 - 1], [-1, None, 2**64 - 1]),
        "engagement": c.integers([0, 7], [-5, None]),
    }  # fmt: skip
    if c.rnd.random() < 0.5:
        columns["sentiment"] = pa.array(c.values([None, 0.5, -1.0, 1.0], [1.5, -1.0001, float("nan")]))
    if c.rnd.random() < 0.5:
        columns["author_followers"] = c.integers([0, 10], [-1])
    return columns


MAKERS: dict[str, Callable[[Columns], dict[str, pa.Array]]] = {
    "sale": _sale, "attendance": _attendance, "revenue": _revenue, "social": _social,
}  # fmt: skip


def _record_path(stream: str, table: pa.Table) -> pa.Table | None:
    """What the record path writes of `table` when it accepts every row, else None."""
    record_type = STREAMS[stream].record_type
    decoded = decode_table(table, record_type)
    check = CHECKS[record_type]
    if decoded.errors or any(check(record, WINDOW, NOW) for _, record in decoded.records):
        return None
    return STREAMS[stream].table_of([record for _, record in decoded.records])


def _tables(seed: int) -> Iterator[tuple[str, str, pa.Table]]:
    """(stream, case, table) for CASES random tables."""
    rnd = random.Random(seed)  # noqa: S311 - seeded so that a failing case repeats, not for secrets
    for number in range(CASES):
        stream = rnd.choice(sorted(MAKERS))
        odd = rnd.randrange(12) if rnd.random() < 0.8 else None
        columns = MAKERS[stream](Columns(rnd, rnd.randint(1, 4), odd))
        if rnd.random() < 0.05:
            del columns[rnd.choice(sorted(columns))]
        table = pa.table(columns)
        yield stream, f"case {number} (seed {seed}): {stream} {table.schema} {table.to_pylist()!r:.2000}", table


def test_the_fast_path_accepts_only_what_the_record_path_accepts_and_writes_the_same() -> None:
    accepted = 0
    for stream, case, table in _tables(SEED):
        fast = clean_facts(stream, table, WINDOW, NOW)
        if fast is None:
            continue
        accepted += 1
        written = _record_path(stream, table)
        assert written is not None, f"the fast path accepted what the record path refuses: {case}"
        assert fast.schema == written.schema, case
        assert fast.to_pylist() == written.to_pylist(), case
    assert accepted > CASES // 10, f"only {accepted} of {CASES} tables went the fast path: the test lost its point"


def test_the_batch_check_passes_only_batches_whose_every_record_passes() -> None:
    passed = 0
    for stream, case, table in _tables(SEED + 1):
        record_type = STREAMS[stream].record_type
        decoded = decode_table(table, record_type)
        if decoded.errors:  # msgspec's types and bounds come first, record by record
            continue
        records = [record for _, record in decoded.records]
        try:
            batch = STREAMS[stream].table_of(records)
        except pa.ArrowInvalid:  # money of more than 2 places: the service leaves such a batch to the records
            continue
        if not all_pass(stream, batch, WINDOW, NOW):
            continue
        passed += 1
        check = CHECKS[record_type]
        assert not [check(record, WINDOW, NOW) for record in records if check(record, WINDOW, NOW)], case
    assert passed > CASES // 10, f"only {passed} of {CASES} batches passed: the test lost its point"
