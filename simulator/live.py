"""Live traffic for the upcoming events: single-record requests (as the platform's services send them) of
sales, social posts and, for events whose doors are open, gate scans, at a steady rate until stopped."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import numpy as np
from clickhouse_connect.driver.client import Client

from simulator.catalog import Event, TierOffer, build
from simulator.params import MarketParams
from simulator.social import KINDS, PLATFORMS

TICK_SECONDS = 0.1
IN_FLIGHT = 16  # requests at once


def _open(events: list[Event], now: datetime, params: MarketParams) -> tuple[list[Event], list[Event]]:
    """Events on sale now, and events whose doors are open now."""
    selling = [e for e in events if e.on_sale_at <= now < e.starts_at and e.cancelled_at is None]
    doors = timedelta(minutes=params.doors_before_minutes)
    show = timedelta(minutes=params.show_minutes)
    inside = [e for e in events if e.starts_at - doors <= now <= e.starts_at + show and e.cancelled_at is None]
    return selling, inside


@dataclass
class Stock:
    """What is left to sell and to scan: tickets per event and tier (its capacity less those sold, live ones
    included), and tickets sold but not yet through a gate. Without it the live traffic sold past a tier's
    capacity, went on selling sold-out events and let more people in than had tickets."""

    tickets_left: dict[tuple[str, str], int]
    not_entered: dict[str, int]

    @classmethod
    def of(cls, events: list[Event], sold: dict[tuple[str, str], int], entered: dict[str, int]) -> Stock:
        left = {
            (e.event_id, t.name): max(0, t.capacity - sold.get((e.event_id, t.name), 0))
            for e in events
            for t in e.tiers
        }
        by_event: dict[str, int] = {}
        for (event_id, _tier), count in sold.items():
            by_event[event_id] = by_event.get(event_id, 0) + count
        return cls(left, {e.event_id: max(0, by_event.get(e.event_id, 0) - entered.get(e.event_id, 0)) for e in events})

    def on_sale(self, event: Event) -> bool:
        return any(self.tickets_left.get((event.event_id, t.name), 0) > 0 for t in event.tiers)

    def sell(self, event: Event, rng: np.random.Generator) -> tuple[TierOffer, int] | None:
        """A tier with tickets left (in proportion to them) and a basket that fits; None when sold out."""
        left = np.array([self.tickets_left.get((event.event_id, t.name), 0) for t in event.tiers], dtype=np.float64)
        if left.sum() <= 0:
            return None
        index = int(rng.choice(len(event.tiers), p=left / left.sum()))
        quantity = min(int(rng.choice([1, 2, 2, 3, 4])), int(left[index]))
        tier = event.tiers[index]
        self.tickets_left[(event.event_id, tier.name)] -= quantity
        self.not_entered[event.event_id] = self.not_entered.get(event.event_id, 0) + quantity
        return tier, quantity

    def admit(self, event: Event) -> bool:
        """One more ticket through the gate, if one sold has not been yet."""
        if self.not_entered.get(event.event_id, 0) <= 0:
            return False
        self.not_entered[event.event_id] -= 1
        return True


def sold_so_far(client: Client, event_ids: list[str]) -> tuple[dict[tuple[str, str], int], dict[str, int]]:
    """Tickets sold per event and tier, and tickets that entered per event, as stored (each record once)."""
    sold = client.query(
        "SELECT event_id, tier, sum(quantity) FROM sales FINAL WHERE event_id IN {ids:Array(String)} "
        "GROUP BY event_id, tier",
        parameters={"ids": event_ids},
    ).result_rows
    entered = client.query(
        "SELECT event_id, uniqExact(ticket_id) FROM scans FINAL WHERE event_id IN {ids:Array(String)} "
        "AND direction = 'entry' GROUP BY event_id",
        parameters={"ids": event_ids},
    ).result_rows
    return {(str(e), str(t)): int(n) for e, t, n in sold}, {str(e): int(n) for e, n in entered}


def _sale(
    event: Event, run: str, number: int, now: datetime, rng: np.random.Generator, *, sold: tuple[TierOffer, int]
) -> dict[str, Any]:
    tier, quantity = sold
    city = event.venue.city
    return {
        "sale_id": f"{event.event_id}-live-{run}-{number}",
        "event_id": event.event_id,
        "customer_id": f"cus-live-{run}-{int(rng.integers(0, 50_000))}",
        "purchased_at": now.isoformat(),
        "tier": tier.name,
        "quantity": quantity,
        "unit_price": f"{tier.price_cents / 100:.2f}",
        "currency": event.currency,
        "channel": str(rng.choice(["web", "app", "app", "partner"])),
        "buyer": {"city": city.name, "region": city.region, "country": city.country},
    }


def _post(event: Event, run: str, number: int, now: datetime, rng: np.random.Generator) -> dict[str, Any]:
    platforms = list(event.genre.platforms)
    reach = int(rng.lognormal(7, 1.5))
    return {
        "post_id": f"{event.event_id}-live-{run}-p{number}",
        "event_id": event.event_id,
        "platform": str(rng.choice(platforms)) if platforms else PLATFORMS[0],
        "kind": str(rng.choice(KINDS)),
        "posted_at": now.isoformat(),
        "reach": reach,
        "engagement": int(reach * rng.beta(2, 30)),
        "sentiment": round(float(np.clip(rng.normal(0.3, 0.3), -1, 1)), 3),
    }


def _scan(event: Event, run: str, number: int, now: datetime, rng: np.random.Generator) -> dict[str, Any]:
    ticket = f"{event.event_id}-live-{run}-t{number}"
    return {
        "scan_id": f"{ticket}-1",
        "event_id": event.event_id,
        "ticket_id": ticket,
        "gate": f"Gate {chr(65 + int(rng.integers(0, event.venue.gates)) % 26)}",
        "direction": "entry",
        "scanned_at": now.isoformat(),
    }


def _record(
    stream: str, event: Event, run: str, number: int, now: datetime, *, rng: np.random.Generator, stock: Stock
) -> dict[str, Any] | None:
    """The next record of `stream` for `event`, or None when there is nothing left to sell or to scan."""
    if stream == "sale":
        sold = stock.sell(event, rng)
        return _sale(event, run, number, now, rng, sold=sold) if sold is not None else None
    if stream == "attendance":
        return _scan(event, run, number, now, rng) if stock.admit(event) else None
    return _post(event, run, number, now, rng)


StockReader = Callable[[list[str]], tuple[dict[tuple[str, str], int], dict[str, int]]]


async def _live(params: MarketParams, url: str, key: str, rate: float, read_stock: StockReader) -> None:
    rng = np.random.default_rng([params.seed, 1])
    events = build(params, np.random.default_rng(params.seed)).events
    upcoming = [e for e in events if e.starts_at + timedelta(minutes=params.show_minutes) >= datetime.now(UTC)]
    stock = Stock.of(upcoming, *read_stock([e.event_id for e in upcoming]))
    run = uuid.uuid4().hex[:8]
    slots = asyncio.Semaphore(IN_FLIGHT)
    pending: set[asyncio.Task[None]] = set()
    number = 0
    async with httpx.AsyncClient(base_url=url, headers={"X-API-Key": key}, timeout=30) as client:

        async def send(stream: str, record: dict[str, Any]) -> None:
            async with slots:
                with contextlib.suppress(httpx.HTTPError):  # live traffic is best effort: the next tick sends more
                    await client.post(f"/api/ingest/{stream}", json=record)

        quiet = False
        while True:
            now = datetime.now(UTC)
            selling, inside = _open(upcoming, now, params)
            selling = [e for e in selling if stock.on_sale(e)]
            if not selling and not quiet:
                print("live traffic: no event of this market is on sale now; waiting for one", flush=True)  # noqa: T201
            quiet = not selling
            weights = np.array([e.popularity * e.capacity for e in selling], dtype=np.float64)
            batches = (
                ("sale", selling, weights, rate),
                ("social", selling, weights, rate / 4),
                ("attendance", inside, np.ones(len(inside)), rate * 2),
            )
            for stream, pool, weight, per_second in batches:
                if not pool:
                    continue
                for _ in range(int(rng.poisson(per_second * TICK_SECONDS))):
                    event = pool[int(rng.choice(len(pool), p=weight / weight.sum()))]
                    record = _record(stream, event, run, number + 1, now, rng=rng, stock=stock)
                    if record is None:
                        continue
                    number += 1
                    task = asyncio.create_task(send(stream, record))
                    pending.add(task)
                    task.add_done_callback(pending.discard)
            await asyncio.sleep(TICK_SECONDS)


def run_live(params: MarketParams, url: str, key: str, rate: float, read_stock: StockReader) -> None:
    """Send live traffic until interrupted; `read_stock` gives what the upcoming events sold and scanned so far."""
    print(f"live traffic: {rate:g} sales/s to {url} (Ctrl-C stops)", flush=True)  # noqa: T201
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_live(params, url, key, rate, read_stock))
