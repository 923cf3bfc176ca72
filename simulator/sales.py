"""An event's sales from its demand: Poisson arrivals per day and tier, purchase times within the day, baskets,
channels, promotions, and sell-outs that stop a tier (the demand left over is recorded as unmet)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from simulator.catalog import Event
from simulator.demand import Demand
from simulator.params import MarketParams

Ints = npt.NDArray[np.int64]
DAY_MS = 86_400_000
HOUR_MS = 3_600_000
# Purchases by local hour of day: quiet at night, a late-morning peak, an evening peak.
HOUR_WEIGHTS = np.array(
    [1, 0.5, 0.3, 0.2, 0.2, 0.3, 0.8, 1.5, 2.5, 3.5, 5, 5, 4.5, 4, 3.5, 3.5, 3.5, 4, 4.5, 5.5, 6, 5.5, 4, 2]
)
HOUR_WEIGHTS = HOUR_WEIGHTS / HOUR_WEIGHTS.sum()


@dataclass(frozen=True)
class EventSales:
    purchased_ms: Ints
    tier: npt.NDArray[np.int8]
    quantity: npt.NDArray[np.int16]
    price_cents: Ints
    channel: npt.NDArray[np.int8]
    promo: npt.NDArray[np.bool_]
    demand: npt.NDArray[np.float64]  # per tier: tickets wanted over the whole period
    sold: Ints  # per tier: tickets sold over the whole period (also after `now`)
    sold_out_ms: Ints  # per tier: when it sold out, or -1


def sales(event: Event, wanted: Demand, params: MarketParams, rng: np.random.Generator) -> EventSales:
    basket = np.asarray(params.basket) / np.sum(params.basket)
    mean_quantity = float(np.dot(np.arange(1, len(basket) + 1), basket))
    channel_weights = np.array(list(params.channels.values()))
    channel_weights /= channel_weights.sum()
    resale = list(params.channels).index("resale")
    on_sale_ms = int(event.on_sale_at.timestamp() * 1000)
    start_ms = int(event.starts_at.timestamp() * 1000)
    parts: list[tuple[Ints, npt.NDArray[np.int8], npt.NDArray[np.int16]]] = []
    sold = np.zeros(len(event.tiers), dtype=np.int64)
    sold_out = np.full(len(event.tiers), -1, dtype=np.int64)
    for position, tier in enumerate(event.tiers):
        counts = rng.poisson(wanted.tickets[position] / mean_quantity)
        total = int(counts.sum())
        day = np.repeat(np.arange(len(counts)), counts)
        hour = rng.choice(24, size=total, p=HOUR_WEIGHTS)
        times = wanted.day_starts_ms[day] + hour * HOUR_MS + rng.integers(0, HOUR_MS, total)
        on_sale_day = day == 0
        # The first day starts at the on-sale: a rush in its first hours.
        times[on_sale_day] = on_sale_ms + (rng.exponential(2.0, int(on_sale_day.sum())) * HOUR_MS).astype(np.int64)
        times = np.clip(times, on_sale_ms, start_ms - 60_000)
        order = np.argsort(times, kind="stable")
        times = times[order]
        quantity = rng.choice(np.arange(1, len(basket) + 1), size=total, p=basket).astype(np.int16)
        tickets = np.cumsum(quantity)
        fits = tickets <= tier.capacity
        if not fits.all():  # sold out: nobody gets past the last seat
            sold_out[position] = int(times[np.argmin(fits)])
        times, quantity = times[fits], quantity[fits]
        sold[position] = int(quantity.sum())
        parts.append((times, np.full(len(times), position, dtype=np.int8), quantity))
    purchased = np.concatenate([p[0] for p in parts])
    tiers = np.concatenate([p[1] for p in parts])
    quantities = np.concatenate([p[2] for p in parts])
    order = np.argsort(purchased, kind="stable")
    purchased, tiers, quantities = purchased[order], tiers[order], quantities[order]
    channel = rng.choice(len(channel_weights), size=len(purchased), p=channel_weights).astype(np.int8)
    promo = np.zeros(len(purchased), dtype=np.bool_)
    if wanted.promo.any():
        day = np.clip((purchased - wanted.day_starts_ms[0]) // DAY_MS, 0, len(wanted.promo) - 1)
        promo = wanted.promo[day] & (channel != resale)
    list_price = np.array([tier.price_cents for tier in event.tiers], dtype=np.int64)[tiers]
    price = np.where(promo, np.round(list_price * (1 - params.promo_discount)).astype(np.int64), list_price)
    price = np.where(channel == resale, np.round(list_price * params.resale_markup).astype(np.int64), price)
    return EventSales(
        purchased_ms=purchased,
        tier=tiers,
        quantity=quantities,
        price_cents=price,
        channel=channel,
        promo=promo,
        demand=wanted.tickets.sum(axis=1),
        sold=sold,
        sold_out_ms=sold_out,
    )
