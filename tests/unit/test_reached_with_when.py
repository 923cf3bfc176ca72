"""What the live views list as reached, with when: the milestones and alerts the push announces once each, which a
dashboard opened later reads there (the push takes those reached before it subscribed as announced)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pyarrow as pa

from api.realtime.rows import Rows, Spec
from api.realtime.services import EventInfo, Frame, RealtimeService, frame
from api.realtime.tallies import Tallies

EVENT = "e1"
AT = datetime(2026, 1, 1, 12, tzinfo=UTC)


def _times(minutes: list[int]) -> pa.Array:
    return pa.array([datetime(2026, 1, 1, 10, m, tzinfo=UTC) for m in minutes], pa.timestamp("ms", tz="UTC"))


def _service(tables: dict[str, pa.Table], **milestones: tuple[float, ...]) -> RealtimeService:
    def fetch(spec: Spec, event_id: str) -> Rows:
        return Rows.of(spec, tables[spec.stream])

    tallies = Tallies(fetch, enabled=True, max_rows=1000, max_age=300.0)
    return RealtimeService(lambda: None, tallies, **milestones)  # type: ignore[arg-type, return-value]


def _event(capacity: int) -> EventInfo:
    return EventInfo(EVENT, "org-1", capacity, "EUR", {"GA": capacity}, "UTC", datetime(2026, 2, 1, tzinfo=UTC))


def _at(event: EventInfo) -> Frame:
    return frame(event, at=AT, tz="Europe/Berlin", window=60, bucket=1)


def test_the_sales_view_lists_round_counts_beside_shares_in_the_order_reached() -> None:
    """Only the shares were listed: the counts the push announces (100, 500, ... tickets) had no when anywhere."""
    quantities = [60, 50, 90, 300, 1]  # running: 60, 110, 200, 500, 501
    sales = pa.table({
        "sale_id": pa.array([f"s{n}" for n in range(5)]),
        "event_id": pa.array([EVENT] * 5),
        "purchased_at": _times([0, 1, 2, 3, 4]),
        "tier": pa.array(["GA"] * 5),
        "quantity": pa.array(quantities, pa.uint16()),
        "unit_price": pa.array(["10.00"] * 5),
        "channel": pa.array(["web"] * 5),
    })  # fmt: skip
    service = _service({"sale": sales}, milestone_shares=(0.25,), milestone_counts=(100, 500, 5000))
    event = _event(capacity=800)
    snapshot = service.sales(event, _at(event))
    listed = [(m.kind, m.share, m.tickets, m.reached_at) for m in snapshot.milestones]
    assert listed == [
        ("count", 0.125, 100, "2026-01-01T11:01:00+01:00"),
        ("share", 0.25, 200, "2026-01-01T11:02:00+01:00"),
        ("count", 0.625, 500, "2026-01-01T11:03:00+01:00"),
    ], "5000 is above the capacity: never reached, not listed"
    assert snapshot.sold_out_at is None


def test_the_attendance_view_lists_each_alert_level_inside_reached_and_when() -> None:
    """Inside reached 90% (and 100%) at 10:04 and fell back: the alert state is "normal" now, and both levels are
    listed with when (a ticket read twice at the gate counts once)."""
    scans = [("t1", "entry"), ("t2", "entry"), ("t2", "entry"), ("t3", "entry"), ("t4", "entry"), ("t3", "exit")]
    table = pa.table({
        "scan_id": pa.array([f"c{n}" for n in range(len(scans))]),
        "event_id": pa.array([EVENT] * len(scans)),
        "scanned_at": _times(list(range(len(scans)))),
        "gate": pa.array(["A"] * len(scans)),
        "direction": pa.array([direction for _, direction in scans]),
        "ticket_id": pa.array([ticket for ticket, _ in scans]),
    })  # fmt: skip
    empty_sales = pa.table({"sale_id": pa.array([], pa.string()), "event_id": pa.array([], pa.string()),
                            "purchased_at": _times([]), "tier": pa.array([], pa.string()),
                            "quantity": pa.array([], pa.uint16()), "unit_price": pa.array([], pa.string()),
                            "channel": pa.array([], pa.string())})  # fmt: skip
    service = _service({"attendance": table, "sale": empty_sales})
    event = _event(capacity=4)  # warning at 3.6: 4 inside; full at 4
    snapshot = service.attendance(event, _at(event))
    assert (snapshot.inside, snapshot.alert, snapshot.attendees) == (3, "normal", 4)
    assert [(a.level, a.inside, a.reached_at) for a in snapshot.alerts] == [
        ("warning", 4, "2026-01-01T11:04:00+01:00"), ("full", 4, "2026-01-01T11:04:00+01:00")]  # fmt: skip


def test_the_revenue_view_lists_a_milestone_from_when_the_net_total_first_reached_it() -> None:
    """Refunds take the total back below a milestone: it stays reached, from the first time."""
    amounts = ["600.00", "450.00", "-300.00", "400.00", "8549.99"]  # running: 600, 1050, 750, 1150, 9699.99
    table = pa.table({
        "revenue_id": pa.array([f"r{n}" for n in range(5)]),
        "event_id": pa.array([EVENT] * 5),
        "recorded_at": _times([0, 1, 2, 3, 4]),
        "category": pa.array(["tickets", "tickets", "refund", "fees", "tickets"]),
        "amount": pa.array(amounts),
    })  # fmt: skip
    service = _service({"revenue": table}, revenue_milestones=(1000, 9699.99, 10000))
    event = _event(capacity=100)
    snapshot = service.revenue(event, _at(event))
    assert snapshot.total == Decimal("9699.99")
    assert [(m.threshold, m.reached_at) for m in snapshot.milestones] == [
        (Decimal("1000.00"), "2026-01-01T11:01:00+01:00"),
        (Decimal("9699.99"), "2026-01-01T11:04:00+01:00"),
    ]
