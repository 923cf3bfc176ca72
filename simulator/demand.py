"""An event's demand over its sales period: the booking curve, weekday and pay-day effects, promotions,
competition, price response per tier, and the social bursts that lead sales. Works day by day, local time."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from simulator.catalog import Event
from simulator.params import MarketParams

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Demand:
    """Per day of the sales period (day 0 holds the on-sale): local midnights in UTC ms, each tier's expected
    tickets, and the social burst level."""

    day_starts_ms: npt.NDArray[np.int64]
    tickets: Floats  # tiers x days
    burst: Floats  # days (also before the on-sale: see `social_days`)
    promo: npt.NDArray[np.bool_]  # days in the promotion


def local_midnights(first: datetime, days: int, zone: ZoneInfo) -> npt.NDArray[np.int64]:
    """UTC milliseconds of each local midnight from `first`'s day on (DST-aware)."""
    local = first.astimezone(zone)
    return np.array(
        [
            int(datetime.combine(local.date() + timedelta(days=d), time(0), tzinfo=zone).timestamp() * 1000)
            for d in range(days)
        ],
        dtype=np.int64,
    )


def booking_curve(days: int, params: MarketParams) -> Floats:
    """Shares of sales per day: an on-sale spike, a flat middle (the lull), an exponential final ramp."""
    d = np.arange(days, dtype=np.float64)
    spike = np.exp(-d / params.onsale_decay_days)
    ramp = np.exp(-(days - 1 - d) / params.final_ramp_days)
    flat = np.ones(days)
    base = max(0.0, 1 - params.onsale_spike_share - params.final_ramp_share)
    curve: Floats = (
        params.onsale_spike_share * spike / spike.sum()
        + params.final_ramp_share * ramp / ramp.sum()
        + base * flat / flat.sum()
    )
    return curve


def bursts(days: int, params: MarketParams, rng: np.random.Generator) -> Floats:
    """Viral bursts: on random days social activity jumps by a random factor, then fades."""
    level = np.zeros(days)
    d = np.arange(days, dtype=np.float64)
    for start in np.flatnonzero(rng.random(days) < params.burst_rate):
        size = rng.uniform(*params.burst_size)
        level += np.where(d >= start, size * np.exp(-(d - start) / params.burst_decay_days), 0.0)
    return level


def demand(event: Event, params: MarketParams, rng: np.random.Generator, social_days_before: int) -> Demand:
    """Expected tickets per tier and day; the burst series covers `social_days_before` days before the
    on-sale too (announcements are talked about before tickets exist)."""
    zone = ZoneInfo(event.venue.city.timezone)
    days = max(1, math.ceil((event.starts_at - event.on_sale_at).total_seconds() / 86400))
    midnights = local_midnights(event.on_sale_at, days, zone)
    dates = [datetime.fromtimestamp(ms / 1000, zone).date() for ms in midnights]
    weekday = np.array([params.weekday_effect[d.weekday()] for d in dates])
    payday = np.array(
        [params.payday_lift if d.day in (1, 15) or (d + timedelta(days=1)).day == 1 else 1.0 for d in dates]
    )
    calendar = weekday * payday
    calendar /= calendar.mean()
    promo = np.zeros(days, dtype=np.bool_)
    if event.promo_start is not None:
        first = int((event.promo_start - event.on_sale_at).total_seconds() // 86400)
        promo[first : first + params.promo_days] = True
    burst_all = bursts(days + social_days_before, params, rng)
    # Sales on day d respond to the buzz of day d - burst_lead_days (needs social_days_before >= that lead).
    lagged = burst_all[social_days_before - params.burst_lead_days :][:days]
    lift = np.where(promo, params.promo_lift, 1.0) * (1 + params.burst_sales_lift * lagged)
    shape = booking_curve(days, params) * calendar * lift
    city = event.venue.city
    total = (
        event.capacity
        * params.demand_level
        * event.popularity
        * (city.population / 1e6) ** params.city_size_effect
        / (1 + params.competition * event.competitors + params.competition_same_genre * event.same_genre_competitors)
        * rng.lognormal(0, params.demand_noise)
    )
    per_tier = np.array(
        [
            total * tier.capacity / event.capacity * tier.relative_price ** (-event.genre.elasticity)
            for tier in event.tiers
        ]
    )
    return Demand(midnights, per_tier[:, None] * shape[None, :], burst_all, promo)
