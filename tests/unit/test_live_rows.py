"""The live views' rows: conversion, merging by identity, the in-memory tallies (commits during a read, reloads,
failures, eviction) and the zone-aligned buckets. The views' figures themselves are tested through the real
server in tests/integration/test_realtime.py."""

from __future__ import annotations

import threading
import time
import zoneinfo
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pytest

from api.realtime import shared_rows
from api.realtime import tallies as tallies_module
from api.realtime.buckets import bucket_starts, window_starts
from api.realtime.rows import SPECS, Rows, Spec, cents, merged
from api.realtime.services import EventInfo, RealtimeService, frame
from api.realtime.tallies import Tallies

EVENT = "e1"


def _sales(*rows: tuple[str, str, int, int, str], event_id: str = EVENT) -> pa.Table:
    """Sales as the ingest writer commits them: (sale_id, purchased_at ISO, quantity, unit price, tier)."""
    return pa.table({
        "sale_id": pa.array([r[0] for r in rows], pa.string()),
        "event_id": pa.array([event_id] * len(rows), pa.string()),
        "purchased_at": pa.array([datetime.fromisoformat(r[1]) for r in rows], pa.timestamp("ms", tz="UTC")),
        "tier": pa.array([r[4] for r in rows], pa.string()),
        "quantity": pa.array([r[2] for r in rows], pa.uint16()),
        "unit_price": pa.array([f"{r[3]}.50" for r in rows], pa.string()),
        "channel": pa.array(["web"] * len(rows), pa.string()),
    })  # fmt: skip


def _tickets(rows: Rows) -> int:
    return int(rows.numbers["quantity"].sum())


def test_money_becomes_exact_cents_from_text_and_decimals() -> None:
    assert cents(pa.array(["12.50", "-0.01", "3"])).tolist() == [1250, -1, 300]
    decimals = pa.array([Decimal("99999999.99"), Decimal("-5.10")], pa.decimal128(14, 2))
    assert cents(decimals).tolist() == [9_999_999_999, -510]
    assert cents(pa.chunked_array([decimals.slice(1)])).tolist() == [-510]


def test_rows_are_sorted_by_time_with_codes_for_text() -> None:
    rows = Rows.of(SPECS["sale"], _sales(("b", "2026-01-01T10:05:00+00:00", 2, 10, "VIP"),
                                         ("a", "2026-01-01T10:00:00+00:00", 1, 20, "GA")))  # fmt: skip
    assert rows.times.tolist() == [1767261600000, 1767261900000]
    assert [rows.labels["tier"][code] for code in rows.codes["tier"]] == ["GA", "VIP"]
    assert rows.numbers["cents"].tolist() == [2050, 2 * 1050]
    assert _tickets(rows.until(1767261600000)) == 1


def test_rows_up_to_a_moment_keep_their_sums_right() -> None:
    rows = Rows.of(SPECS["sale"], _sales(("a", "2026-01-01T10:00:00+00:00", 1, 20, "GA"),
                                         ("b", "2026-01-01T10:01:00+00:00", 2, 20, "VIP"),
                                         ("c", "2026-01-01T10:02:00+00:00", 4, 20, "VIP")))  # fmt: skip
    full = rows.label_sums("tier", ("quantity",))
    assert [list(a) for a in full] == [[1, 2], [1, 6]]
    part = rows.until(1767261660000)  # 10:01: a and b
    assert [list(a) for a in part.label_sums("tier", ("quantity",))] == [[1, 1], [1, 2]]
    assert [list(a) for a in rows.until(1767261600000).label_sums("tier", ("quantity",))] == [[1, 0], [1, 0]]


def test_merging_keeps_each_record_once_and_joins_the_labels() -> None:
    spec = SPECS["sale"]
    base = Rows.of(spec, _sales(("a", "2026-01-01T10:00:00+00:00", 1, 20, "GA")))
    later = Rows.of(spec, _sales(("a", "2026-01-01T10:00:00+00:00", 1, 20, "GA"),  # already in base
                                 ("c", "2026-01-01T09:00:00+00:00", 4, 5, "VIP"),  # earlier than base's row
                                 ("c", "2026-01-01T09:00:00+00:00", 4, 5, "VIP")))  # twice among the later  # fmt: skip
    both = merged(base, [later], dedupe=True)
    assert _tickets(both) == 5 and len(both) == 2
    assert [both.labels["tier"][code] for code in both.codes["tier"]] == ["VIP", "GA"]


def test_appending_keeps_earlier_snapshots_as_they_were() -> None:
    spec = SPECS["sale"]
    first = merged(Rows.of(spec, _sales(("a", "2026-01-01T10:00:00+00:00", 1, 20, "GA"))),
                   [Rows.of(spec, _sales(("b", "2026-01-01T10:01:00+00:00", 2, 20, "GA")))], dedupe=False)  # fmt: skip
    second = merged(first, [Rows.of(spec, _sales(("c", "2026-01-01T10:02:00+00:00", 4, 20, "VIP")))], dedupe=False)
    # Merging onto `first` again (not the latest) must not write over what `second` holds.
    other = merged(first, [Rows.of(spec, _sales(("d", "2026-01-01T10:03:00+00:00", 8, 20, "GA")))], dedupe=False)
    assert (_tickets(first), _tickets(second), _tickets(other)) == (3, 7, 11)
    assert [second.labels["tier"][c] for c in second.codes["tier"]] == ["GA", "GA", "VIP"]
    assert [other.labels["tier"][c] for c in other.codes["tier"]] == ["GA", "GA", "GA"]
    later = merged(second, [Rows.of(spec, _sales(("e", "2026-01-01T10:04:00+00:00", 16, 20, "GA")))], dedupe=False)
    assert (_tickets(second), _tickets(later)) == (7, 23), "appending in place leaves the snapshot before it alone"


def test_sums_carried_through_merges_match_sums_counted_afresh_new_labels_included() -> None:
    spec = SPECS["sale"]
    rows = [
        ("a", "2026-01-01T10:00:00+00:00", 1, 20, "GA"),
        ("b", "2026-01-01T10:01:00+00:00", 2, 20, "GA"),
        ("c", "2026-01-01T10:02:00+00:00", 4, 30, "VIP"),
        ("d", "2026-01-01T10:03:00+00:00", 8, 20, "GA"),
    ]
    kept = Rows.of(spec, _sales(*rows[:2]))
    assert [list(a) for a in kept.label_sums("tier", ("quantity", "cents"))] == [[2], [3], [3 * 2050]]
    kept = merged(kept, [Rows.of(spec, _sales(rows[2]))], dedupe=False)  # a tier not seen before: VIP
    kept = merged(kept, [Rows.of(spec, _sales(rows[3]))], dedupe=False)  # the same tiers
    afresh = Rows.of(spec, _sales(*rows))
    assert kept.labels["tier"] == afresh.labels["tier"] == ["GA", "VIP"]
    carried = kept._sums[("tier", ("quantity", "cents"))]  # carried, not counted again
    assert [list(a) for a in carried] == [list(a) for a in afresh.label_sums("tier", ("quantity", "cents"))]
    assert [list(a) for a in carried] == [[3, 1], [11, 4], [11 * 2050, 4 * 3050]]


class _Warehouse:
    """What a table holds, read by the tallies; `during_read` runs while a read is under way."""

    def __init__(self) -> None:
        self.table = _sales(("a", "2026-01-01T10:00:00+00:00", 1, 20, "GA"))
        self.reads = 0
        self.during_read: list[pa.Table] = []
        self.tallies: Tallies | None = None
        self.fail = False
        self.read_seconds = 0.0  # how long a read takes
        self.reading = self.most_reading = 0  # reads under way, now and at most at once
        self._lock = threading.Lock()

    def fetch(self, spec: Spec, event_id: str) -> Rows:
        with self._lock:
            self.reading += 1
            self.most_reading = max(self.most_reading, self.reading)
        threading.Event().wait(self.read_seconds)
        with self._lock:
            self.reading -= 1
            self.reads += 1
        if self.fail:
            raise ConnectionError("warehouse unreachable")
        snapshot = self.table
        for table in self.during_read:  # committed while the read runs: the read may or may not have it
            assert self.tallies is not None
            self.tallies.committed("sale", table)
        self.during_read = []
        return Rows.of(spec, snapshot)


def _until(check: Callable[[], bool], seconds: float) -> None:
    """Wait for the reloads in the background until `check()` holds or `seconds` pass; the caller asserts."""
    deadline = time.monotonic() + seconds
    while not check() and time.monotonic() < deadline:
        threading.Event().wait(0.01)


def _tallies(warehouse: _Warehouse, **options: float) -> Tallies:
    tallies = Tallies(warehouse.fetch, enabled=True, max_rows=int(options.get("max_rows", 1000)),
                      max_age=options.get("max_age", 300.0))  # fmt: skip
    warehouse.tallies = tallies
    return tallies


def test_commits_heard_during_a_read_count_once_whether_or_not_the_read_saw_them() -> None:
    warehouse = _Warehouse()
    tallies = _tallies(warehouse)
    seen_by_read = _sales(("b", "2026-01-01T10:01:00+00:00", 2, 20, "GA"))
    missed_by_read = _sales(("c", "2026-01-01T10:02:00+00:00", 4, 20, "GA"))
    warehouse.table = pa.concat_tables([warehouse.table, seen_by_read])
    warehouse.during_read = [seen_by_read, missed_by_read]
    assert _tickets(tallies.rows("sale", EVENT)) == 1 + 2 + 4
    tallies.committed("sale", _sales(("d", "2026-01-01T10:03:00+00:00", 8, 20, "GA")))
    tallies.committed("sale", _sales(("x", "2026-01-01T10:03:00+00:00", 100, 20, "GA"), event_id="other"))
    assert _tickets(tallies.rows("sale", EVENT)) == 15
    assert warehouse.reads == 1, "later answers come from memory"


def test_rows_kept_are_counted_without_reading_only_once_read() -> None:
    """What the live answers ask before refreshing on the event loop: it must never make them read the table."""
    warehouse = _Warehouse()
    tallies = _tallies(warehouse)
    assert tallies.kept("sale", EVENT) is None, "not read yet"
    tallies.rows("sale", EVENT)
    tallies.committed(
        "sale", _sales(("b", "2026-01-01T10:01:00+00:00", 2, 20, "GA"), ("c", "2026-01-01T10:02:00+00:00", 1, 20, "GA"))
    )
    assert tallies.kept("sale", EVENT) == 3, "the rows read and those committed since, not merged yet"
    assert tallies.kept("sale", "other") is None and tallies.kept("attendance", EVENT) is None
    assert warehouse.reads == 1
    tallies.hearing(False)
    assert tallies.kept("sale", EVENT) is None, "off: every answer reads the table"
    assert warehouse.reads == 1


def test_a_view_is_in_memory_only_when_every_stream_it_needs_is() -> None:
    warehouse = _Warehouse()
    tallies = _tallies(warehouse)
    service = RealtimeService(client=lambda: None, tallies=tallies)  # type: ignore[arg-type, return-value]
    tallies.rows("sale", EVENT)
    assert service.rows_in_memory("sales", EVENT) == 1
    assert service.rows_in_memory("attendance", EVENT) is None, "its scans are not read yet"
    scans = pa.table({
        "scan_id": ["s1", "s2"], "event_id": [EVENT, EVENT],
        "scanned_at": pa.array([datetime(2026, 1, 1, 19, tzinfo=UTC)] * 2, pa.timestamp("ms", tz="UTC")),
        "gate": ["A", "A"], "direction": ["entry", "exit"], "ticket_id": ["t1", "t1"],
    })  # fmt: skip
    tallies.committed("attendance", scans)  # not kept yet: not counted
    assert service.rows_in_memory("attendance", EVENT) is None
    warehouse.table = scans  # read as the event's scans
    tallies.rows("attendance", EVENT)
    assert service.rows_in_memory("attendance", EVENT) == 2 + 1, "its scans and its sales"
    assert warehouse.reads == 2


def test_a_commit_of_several_events_goes_to_each_event_whatever_its_times() -> None:
    warehouse = _Warehouse()
    tallies = _tallies(warehouse)
    tallies.rows("sale", "e1")
    tallies.rows("sale", "e2")
    mixed = pa.concat_tables([
        _sales(("p", "2026-01-01T12:00:00+00:00", 2, 20, "GA"), event_id="e1"),  # later, first in the batch
        _sales(("q", "2026-01-01T08:00:00+00:00", 30, 20, "VIP"), event_id="e2"),
        _sales(("r", "2026-01-01T09:00:00+00:00", 400, 20, "GA"), event_id="e1"),
    ])  # fmt: skip
    tallies.committed("sale", mixed)
    e1, e2 = tallies.rows("sale", "e1"), tallies.rows("sale", "e2")
    # The table read for any event holds one row of 1 ticket (the stand-in ignores the event id).
    assert (_tickets(e1), _tickets(e2)) == (1 + 2 + 400, 1 + 30)
    assert bool((e1.times[1:] >= e1.times[:-1]).all())
    assert [e2.labels["tier"][code] for code in e2.codes["tier"]] == ["VIP", "GA"]


def test_rows_heard_from_another_worker_are_checked_against_this_ones() -> None:
    warehouse = _Warehouse()
    tallies = _tallies(warehouse)
    tallies.rows("sale", EVENT)
    both = _sales(("b", "2026-01-01T10:01:00+00:00", 2, 20, "GA"))
    tallies.committed("sale", both)  # this worker committed it...
    tallies.committed("sale", both, elsewhere=True)  # ...and so did another, at the same moment
    tallies.committed("sale", _sales(("c", "2026-01-01T10:02:00+00:00", 4, 20, "GA")), elsewhere=True)
    assert _tickets(tallies.rows("sale", EVENT)) == 1 + 2 + 4
    tallies.committed("sale", both, elsewhere=True)  # heard again later
    assert _tickets(tallies.rows("sale", EVENT)) == 7


def test_hearing_other_workers_starts_over_and_not_hearing_reads_the_table() -> None:
    warehouse = _Warehouse()
    tallies = _tallies(warehouse)
    tallies.rows("sale", EVENT)
    tallies.hearing(False)
    tallies.rows("sale", EVENT)
    tallies.rows("sale", EVENT)
    assert warehouse.reads == 3
    tallies.hearing(True)
    tallies.rows("sale", EVENT)
    tallies.rows("sale", EVENT)
    assert warehouse.reads == 4


def test_shared_rows_keep_the_live_columns_only() -> None:
    table = _sales(("a", "2026-01-01T10:00:00+00:00", 1, 20, "GA")).append_column("customer_id", pa.array(["c1"]))
    message = shared_rows.encode(b"worker-1", "sale", table)
    assert message is not None and shared_rows.encode(b"worker-1", "venue", table) is None
    origin, stream, decoded = shared_rows.decode(message)
    assert (origin, stream, decoded.num_rows) == (b"worker-1", "sale", 1)
    assert "customer_id" not in decoded.column_names
    assert _tickets(Rows.of(SPECS["sale"], decoded)) == 1


def test_rows_are_read_again_after_max_age_and_after_a_failed_write() -> None:
    warehouse = _Warehouse()
    tallies = _tallies(warehouse, max_age=0.0)
    assert _tickets(tallies.rows("sale", EVENT)) == 1
    warehouse.table = pa.concat_tables([warehouse.table, _sales(("z", "2026-01-01T11:00:00+00:00", 5, 1, "GA"))])
    tallies.rows("sale", EVENT)  # stale: answered from memory while a reload runs in the background
    _until(lambda: _tickets(tallies.rows("sale", EVENT)) == 6, 1.0)
    assert _tickets(tallies.rows("sale", EVENT)) == 6, "a row written around the API shows up after a reload"

    apart = _Warehouse()  # the tallies above may still be reading theirs again (max_age 0)
    kept = _tallies(apart)
    kept.rows("sale", EVENT)
    reads = apart.reads
    kept.forget("sale", [EVENT])
    kept.rows("sale", EVENT)
    assert apart.reads == reads + 1


def test_stale_events_are_read_again_one_at_a_time() -> None:
    """Events first read together fall due together: each reload in a thread of its own put dozens of reads beside
    the event loop at once."""
    warehouse = _Warehouse()
    tallies = _tallies(warehouse, max_age=0.0)
    events = [f"e{n}" for n in range(6)]
    for event_id in events:
        tallies.rows("sale", event_id)
    warehouse.read_seconds = 0.02
    warehouse.table = pa.concat_tables([warehouse.table, _sales(("z", "2026-01-01T11:00:00+00:00", 5, 1, "GA"))])
    for event_id in events:
        tallies.rows("sale", event_id)  # stale: each due to be read again
    _until(lambda: all(_tickets(tallies.rows("sale", e)) == 6 for e in events), 5.0)
    assert [_tickets(tallies.rows("sale", event_id)) for event_id in events] == [6] * len(events)
    assert warehouse.most_reading == 1


def test_the_reloader_goes_on_after_a_reload_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """One thread reads every stale event again: an error escaping one reload must not end the reloads."""
    warehouse = _Warehouse()
    tallies = _tallies(warehouse, max_age=0.0)
    tallies.rows("sale", "e1")
    tallies.rows("sale", "e2")
    failures: list[int] = []

    def merge_failing_once(*args: object, **kwargs: object) -> Rows:
        if not failures:
            failures.append(1)
            raise RuntimeError("a bug")
        return merged(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(tallies_module, "merged", merge_failing_once)
    warehouse.table = pa.concat_tables([warehouse.table, _sales(("z", "2026-01-01T11:00:00+00:00", 5, 1, "GA"))])
    tallies.rows("sale", "e1")  # due again: its reload fails after the read
    tallies.rows("sale", "e2")  # due again: read by the same thread after that
    _until(lambda: warehouse.reads == 4 and _tickets(tallies.rows("sale", "e2")) == 6, 5.0)
    assert failures and _tickets(tallies.rows("sale", "e2")) == 6
    _until(lambda: _tickets(tallies.rows("sale", "e1")) == 6, 5.0)  # e1 is due again at its next answer
    assert _tickets(tallies.rows("sale", "e1")) == 6


def test_a_failed_read_raises_its_own_error_and_is_tried_again() -> None:
    warehouse = _Warehouse()
    tallies = _tallies(warehouse)
    warehouse.fail = True
    with pytest.raises(ConnectionError):
        tallies.rows("sale", EVENT)
    warehouse.fail = False
    assert _tickets(tallies.rows("sale", EVENT)) == 1


def test_least_recently_used_events_go_first_past_max_rows() -> None:
    warehouse = _Warehouse()
    tallies = _tallies(warehouse, max_rows=2)
    for event_id in ("e1", "e2", "e3"):
        tallies.rows("sale", event_id)
    reads = warehouse.reads
    tallies.rows("sale", "e3")
    tallies.rows("sale", "e2")
    assert warehouse.reads == reads, "the two most recent are kept"
    tallies.rows("sale", "e1")
    assert warehouse.reads == reads + 1, "the oldest was dropped"


def test_disabled_tallies_read_the_table_every_time() -> None:
    warehouse = _Warehouse()
    tallies = Tallies(warehouse.fetch, enabled=False, max_rows=1000, max_age=300)
    tallies.rows("sale", EVENT)
    tallies.committed("sale", _sales(("b", "2026-01-01T10:01:00+00:00", 2, 20, "GA")))
    tallies.rows("sale", EVENT)
    assert warehouse.reads == 2


def _utc_ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def _buckets(zone: str, minutes: int, *times: str) -> list[str]:
    tz = zoneinfo.ZoneInfo(zone)
    starts = bucket_starts(np.array([_utc_ms(t) for t in times], dtype=np.int64), tz, minutes)
    return [datetime.fromtimestamp(int(s) / 1000, UTC).astimezone(tz).isoformat() for s in starts]


def test_buckets_follow_the_zone() -> None:
    # Berlin's clocks went back at 01:00 UTC on 2025-10-26: 02:00-03:00 local happened twice.
    assert _buckets("Europe/Berlin", 60, "2025-10-26T00:30:00+00:00", "2025-10-26T01:30:00+00:00") == [
        "2025-10-26T02:00:00+02:00", "2025-10-26T02:00:00+01:00"]  # fmt: skip
    # A day bucket spans the change: one bucket, starting at local midnight (still summer time then).
    assert _buckets("Europe/Berlin", 1440, "2025-10-26T00:30:00+00:00", "2025-10-26T12:00:00+00:00") == [
        "2025-10-26T00:00:00+02:00"] * 2  # fmt: skip
    assert _buckets("Asia/Kathmandu", 60, "2026-03-01T10:20:00+00:00") == ["2026-03-01T16:00:00+05:45"]
    assert _buckets("Asia/Kolkata", 15, "2026-03-01T10:20:00+00:00") == ["2026-03-01T15:45:00+05:30"]
    assert _buckets("UTC", 7, "2026-03-01T00:15:00+00:00") == ["2026-03-01T00:14:00+00:00"], "from local midnight"
    assert _buckets("America/New_York", 2880, "2026-03-03T12:00:00+00:00") == ["2026-03-02T00:00:00-05:00"]


def test_a_change_on_the_half_hour_is_placed_exactly() -> None:
    # St John's left summer time (-02:30) at 04:30 UTC on 2025-11-02; 04:45 UTC is 01:15 local (-03:30). Offsets
    # were looked up once per UTC hour, at 04:00, so this hour's bucket was printed an hour late (02:00-03:30).
    assert _buckets("America/St_Johns", 60, "2025-11-02T04:15:00+00:00", "2025-11-02T04:45:00+00:00") == [
        "2025-11-02T01:00:00-02:30", "2025-11-02T01:00:00-03:30"]  # fmt: skip


@pytest.mark.parametrize(
    ("zone", "minutes"),
    [("Europe/Berlin", 60), ("Europe/Berlin", 7), ("America/St_Johns", 30), ("Australia/Lord_Howe", 60),
     ("Asia/Kathmandu", 45), ("America/New_York", 1440)],
)  # fmt: skip
def test_a_windows_buckets_are_those_of_its_every_minute(zone: str, minutes: int) -> None:
    """`window_starts` lists the buckets every moment of the window falls in, across DST changes too."""
    tz = zoneinfo.ZoneInfo(zone)
    for change in ("2025-10-05T15:00:00+00:00", "2025-10-26T01:00:00+00:00", "2025-11-02T05:00:00+00:00"):
        start = _utc_ms(change) - 3 * 3600_000 + 17_000  # not on a minute
        end = start + 7 * 3600_000
        minutely = np.r_[start, np.arange(start - start % 60_000 + 60_000, end + 1, 60_000, dtype=np.int64)]
        expected = np.unique(bucket_starts(minutely, tz, minutes))
        assert window_starts(start, end, tz, minutes).tolist() == expected.tolist(), change


def test_the_sales_view_lists_the_milestones_the_push_announces() -> None:
    """The view kept its own 25/50/75/90/100% whatever TICKETTOKEN_MILESTONE_SHARES the push announced."""
    warehouse = _Warehouse()
    warehouse.table = _sales(("a", "2026-01-01T10:00:00+00:00", 1, 20, "GA"),
                             ("b", "2026-01-01T10:01:00+00:00", 3, 20, "GA"),
                             ("c", "2026-01-01T10:02:00+00:00", 6, 20, "GA"))  # fmt: skip
    service = RealtimeService(lambda: None, _tallies(warehouse), milestone_shares=(0.1, 0.4))  # type: ignore[arg-type, return-value]
    event = EventInfo(EVENT, "org-1", 10, "EUR", {"GA": 10}, "UTC", datetime(2026, 2, 1, tzinfo=UTC))
    sales = service.sales(event, frame(event, at=datetime(2026, 1, 1, 11, tzinfo=UTC), tz=None, window=60, bucket=1))
    assert [(m.share, m.tickets, m.reached_at[11:16]) for m in sales.milestones] == [
        (0.1, 1, "10:00"), (0.4, 4, "10:01"), (1.0, 10, "10:02")]  # fmt: skip
    assert sales.sold_out_at == sales.milestones[-1].reached_at, "selling out is always listed"
