"""Live traffic for the upcoming events: single-record requests (as the platform's services send them) of
sales, social posts and, for events whose doors are open, gate scans, at a steady rate until stopped."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import numpy as np

from simulator.catalog import Event, build
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


def _sale(event: Event, run: str, number: int, now: datetime, rng: np.random.Generator) -> dict[str, Any]:
    tier = event.tiers[int(rng.choice(len(event.tiers), p=[t.capacity / event.capacity for t in event.tiers]))]
    city = event.venue.city
    return {
        "sale_id": f"{event.event_id}-live-{run}-{number}",
        "event_id": event.event_id,
        "customer_id": f"cus-live-{run}-{int(rng.integers(0, 50_000))}",
        "purchased_at": now.isoformat(),
        "tier": tier.name,
        "quantity": int(rng.choice([1, 2, 2, 3, 4])),
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


async def _live(params: MarketParams, url: str, key: str, rate: float) -> None:
    rng = np.random.default_rng([params.seed, 1])
    events = build(params, np.random.default_rng(params.seed)).events
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
            selling, inside = _open(events, now, params)
            if not selling and not quiet:
                print("live traffic: no event of this market is on sale now; waiting for one", flush=True)  # noqa: T201
            quiet = not selling
            weights = np.array([e.popularity * e.capacity for e in selling], dtype=np.float64)
            batches = (
                ("sale", selling, weights, rate, _sale),
                ("social", selling, weights, rate / 4, _post),
                ("attendance", inside, np.ones(len(inside)), rate * 2, _scan),
            )
            for stream, pool, weight, per_second, make in batches:
                if not pool:
                    continue
                for _ in range(int(rng.poisson(per_second * TICK_SECONDS))):
                    event = pool[int(rng.choice(len(pool), p=weight / weight.sum()))]
                    number += 1
                    task = asyncio.create_task(send(stream, make(event, run, number, now, rng)))
                    pending.add(task)
                    task.add_done_callback(pending.discard)
            await asyncio.sleep(TICK_SECONDS)


def run_live(params: MarketParams, url: str, key: str, rate: float) -> None:
    """Send live traffic until interrupted."""
    print(f"live traffic: {rate:g} sales/s to {url} (Ctrl-C stops)", flush=True)  # noqa: T201
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_live(params, url, key, rate))
