"""Gate scans: each ticket that shows up is scanned in between doors-open and a while after the start, at one
of the venue's gates; some attendees leave and come back (an exit, then a second entry)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from simulator.catalog import Event
from simulator.columns import rows_where
from simulator.params import MarketParams

Ints = npt.NDArray[np.int64]
MINUTE_MS = 60_000


@dataclass(frozen=True)
class EventScans:
    sale: Ints  # the sale (row within the event's sales) of the scanned ticket
    ticket: Ints  # the ticket's number within its sale
    number: Ints  # 1 entry, 2 exit, 3 re-entry
    gate: Ints
    exit: npt.NDArray[np.bool_]
    scanned_ms: Ints


def scans(
    event: Event, quantity: npt.NDArray[np.int16], params: MarketParams, *, rng: np.random.Generator, now_ms: int
) -> EventScans:
    """Scans of an event whose doors have opened by `now_ms` (only those up to `now_ms`)."""
    start_ms = int(event.starts_at.timestamp() * 1000)
    doors_ms = start_ms - params.doors_before_minutes * MINUTE_MS
    empty = np.zeros(0, dtype=np.int64)
    if doors_ms > now_ms or (event.cancelled_at is not None and event.cancelled_at < event.starts_at):
        return EventScans(empty, empty, empty, empty, np.zeros(0, bool), empty)
    sale = np.repeat(np.arange(len(quantity), dtype=np.int64), quantity.astype(np.int64))
    ticket = np.arange(len(sale), dtype=np.int64) - np.repeat(np.cumsum(quantity) - quantity, quantity)
    shows = rng.random(len(sale)) < event.genre.show_rate
    sale, ticket = sale[shows], ticket[shows]
    window = (params.doors_before_minutes + 60) * MINUTE_MS  # most come before the start, some late
    entry = doors_ms + (rng.beta(2.2, 2.8, len(sale)) * window).astype(np.int64)
    gate = rng.integers(0, event.venue.gates, len(sale))
    again = rng.random(len(sale)) < params.reentry_rate
    out = entry[again] + rng.integers(30, 120, int(again.sum())) * MINUTE_MS
    back = out + rng.integers(5, 30, int(again.sum())) * MINUTE_MS
    n = len(sale)
    result = EventScans(
        sale=np.concatenate([sale, sale[again], sale[again]]),
        ticket=np.concatenate([ticket, ticket[again], ticket[again]]),
        number=np.concatenate([np.ones(n, np.int64), np.full(len(out), 2), np.full(len(back), 3)]),
        gate=np.concatenate([gate, gate[again], gate[again]]),
        exit=np.concatenate([np.zeros(n, bool), np.ones(len(out), bool), np.zeros(len(back), bool)]),
        scanned_ms=np.concatenate([entry, out, back]),
    )
    return rows_where(result, result.scanned_ms <= now_ms)
