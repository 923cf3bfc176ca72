"""Revenue lines: ticket and fee revenue settled per hour of sales, refunds (negative) for single sales and for
every sale of a cancelled event, merchandise and food & beverage per quarter hour of the show, parking and
sponsorship once per event."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from simulator.catalog import Event
from simulator.columns import rows_where
from simulator.params import MarketParams
from simulator.sales import DAY_MS, HOUR_MS, EventSales

Ints = npt.NDArray[np.int64]
CATEGORIES = ("tickets", "fees", "merchandise", "food_beverage", "parking", "sponsorship", "refund")
QUARTER_MS = 15 * 60_000


@dataclass(frozen=True)
class EventRevenue:
    category: npt.NDArray[np.int8]  # index into CATEGORIES
    amount_cents: Ints
    recorded_ms: Ints
    key: Ints  # the line's number within its category and event (for its id)


def revenue(
    event: Event, sold: EventSales, attendees: int, params: MarketParams, *, rng: np.random.Generator, now_ms: int
) -> EventRevenue:
    lines: list[tuple[int, Ints, Ints, Ints]] = []
    amount = sold.quantity.astype(np.int64) * sold.price_cents
    # Tickets and fees, settled per hour in which there were sales, at that hour's last sale.
    hours = sold.purchased_ms // HOUR_MS
    if len(hours):
        unique, first = np.unique(hours, return_index=True)
        last = np.append(first[1:], len(hours)) - 1
        tickets = np.add.reduceat(amount, first)
        count = np.add.reduceat(sold.quantity.astype(np.int64), first)
        fees = np.round(tickets * params.fee_rate + count * params.fee_per_ticket * 100).astype(np.int64)
        at = sold.purchased_ms[last]
        lines += [(0, tickets, at, unique), (1, fees, at, unique)]
    start_ms = int(event.starts_at.timestamp() * 1000)
    cancelled_ms = int(event.cancelled_at.timestamp() * 1000) if event.cancelled_at is not None else None
    # Refunds: some single sales, and every sale of a cancelled event.
    if cancelled_ms is not None:
        refunded = np.ones(len(amount), dtype=np.bool_)
        when = cancelled_ms + rng.integers(0, 2 * DAY_MS, len(amount))
    else:
        refunded = rng.random(len(amount)) < params.refund_rate
        when = sold.purchased_ms + rng.integers(DAY_MS, 21 * DAY_MS, len(amount))
        refunded &= when < start_ms
    rows = np.flatnonzero(refunded)
    lines.append((6, -amount[rows], when[rows], rows))
    # At the show: merchandise and food & beverage per quarter hour, parking once.
    if attendees and cancelled_ms is None:
        doors = start_ms - params.doors_before_minutes * 60_000
        quarters = np.arange(doors, start_ms + params.show_minutes * 60_000, QUARTER_MS)
        profile = rng.dirichlet(np.full(len(quarters), 4.0))
        for category, spend in ((2, params.merch_per_attendee), (3, params.food_per_attendee)):
            total = attendees * spend * 100 * rng.lognormal(0, 0.2)
            lines.append(
                (category, np.round(total * profile).astype(np.int64), quarters + QUARTER_MS, np.arange(len(quarters)))
            )
        parking = int(attendees * 0.15 * 1200 * rng.lognormal(0, 0.2))
        lines.append((4, np.array([parking]), np.array([start_ms]), np.zeros(1, np.int64)))
    sponsorship = int(event.capacity * 50 * event.popularity * rng.lognormal(0, 0.3))
    on_sale_ms = int(event.on_sale_at.timestamp() * 1000)
    lines.append((5, np.array([sponsorship]), np.array([on_sale_ms]), np.zeros(1, np.int64)))
    result = EventRevenue(
        category=np.concatenate([np.full(len(a), c, dtype=np.int8) for c, a, _, _ in lines]),
        amount_cents=np.concatenate([a for _, a, _, _ in lines]),
        recorded_ms=np.concatenate([t for _, _, t, _ in lines]),
        key=np.concatenate([k for _, _, _, k in lines]),
    )
    return rows_where(result, result.recorded_ms <= now_ms)
