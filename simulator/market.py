"""`generate(params)`: the whole market as ingest-ready records (venues, events) and Arrow tables (sales,
scans, revenue, social) with the ingest contract's column names, plus the ground truth behind them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from simulator.attendance import EventScans, scans
from simulator.buyers import GENDERS, Customers
from simulator.catalog import Catalog, Event, build, venue_record
from simulator.columns import rows_where
from simulator.demand import demand
from simulator.money import CATEGORIES, EventRevenue, revenue
from simulator.params import MarketParams
from simulator.places import CITIES
from simulator.sales import DAY_MS, EventSales, sales
from simulator.social import KINDS, PLATFORMS, EventSocial, social

PER_SALE = ("purchased_ms", "tier", "quantity", "price_cents", "channel", "promo")  # the rest of EventSales is per tier
SOCIAL_DAYS_BEFORE = 14  # announcements are talked about for two weeks before tickets go on sale
TIME = pa.timestamp("ms", tz="UTC")
MONEY = pa.decimal128(12, 2)


@dataclass(frozen=True)
class Truth:
    """What the data was made from, per event (for tests and for judging forecasts)."""

    demand: npt.NDArray[np.float64]  # tickets wanted over the whole sales period
    sold_total: npt.NDArray[np.int64]  # tickets sold over the whole period (also after `now`)
    capacity: npt.NDArray[np.int64]
    sold_out: npt.NDArray[np.bool_]
    bursts: list[npt.NDArray[np.float64]]  # per event, per day from SOCIAL_DAYS_BEFORE before the on-sale


@dataclass(frozen=True)
class Market:
    params: MarketParams
    catalog: Catalog
    venues: list[dict[str, object]]
    events: list[dict[str, object]]
    sales: pa.Table
    scans: pa.Table
    revenue: pa.Table
    social: pa.Table
    truth: Truth

    def streams(self) -> dict[str, pa.Table]:
        """The fact tables by ingest stream name."""
        return {"sale": self.sales, "attendance": self.scans, "revenue": self.revenue, "social": self.social}


@dataclass(frozen=True)
class _Done:
    event: Event
    sales: EventSales
    customers: npt.NDArray[np.int64]
    scans: EventScans
    revenue: EventRevenue
    social: EventSocial
    bursts: npt.NDArray[np.float64]


def generate(params: MarketParams, progress: Callable[[int], None] | None = None) -> Market:
    """The market for `params`; `progress(n)` is called as events are done."""
    rng = np.random.default_rng(params.seed)
    catalog = build(params, rng)
    now_ms = int(params.now.timestamp() * 1000)
    customers = Customers(params)
    done: list[_Done] = []
    # In on-sale order, so that repeat customers are earlier events' buyers.
    for event in sorted(catalog.events, key=lambda e: e.on_sale_at):
        event_rng = np.random.default_rng([params.seed, event.index])
        wanted = demand(event, params, event_rng, SOCIAL_DAYS_BEFORE)
        made = sales(event, wanted, params, event_rng)
        keep = made.purchased_ms <= now_ms
        if event.cancelled_at is not None:
            keep &= made.purchased_ms < int(event.cancelled_at.timestamp() * 1000)
        sold = rows_where(made, keep, PER_SALE)
        genre = event.genre
        buyers = customers.buyers(
            len(sold.purchased_ms), event.venue.city_index, genre, year=event.starts_at.year, rng=event_rng
        )
        scanned = scans(event, sold.quantity, params, rng=event_rng, now_ms=now_ms)
        attendees = int((scanned.number == 1).sum())
        lines = revenue(event, sold, attendees, params, rng=event_rng, now_ms=now_ms)
        first_day = int(wanted.day_starts_ms[0]) - SOCIAL_DAYS_BEFORE * DAY_MS
        days = min(len(wanted.burst), (int(event.starts_at.timestamp() * 1000) - first_day) // DAY_MS + 1)
        posts = social(event, first_day, wanted.burst[:days], rng=event_rng, now_ms=now_ms)
        done.append(_Done(event, sold, buyers, scanned, lines, posts, wanted.burst))
        if progress is not None:
            progress(1)
    done.sort(key=lambda item: item.event.index)
    people = customers.columns()
    return Market(
        params=params,
        catalog=catalog,
        venues=[venue_record(v) for v in catalog.venues],
        events=[e.record(params.now) for e in catalog.events],
        sales=_sales_table(done, people, params),
        scans=_scans_table(done),
        revenue=_revenue_table(done),
        social=_social_table(done),
        truth=Truth(
            demand=np.array([d.sales.demand.sum() for d in done]),
            sold_total=np.array([int(d.sales.sold.sum()) for d in done], dtype=np.int64),
            capacity=np.array([d.event.capacity for d in done], dtype=np.int64),
            sold_out=np.array([bool((d.sales.sold_out_ms >= 0).all()) for d in done]),
            bursts=[d.bursts for d in done],
        ),
    )


def decimal_cents(cents: npt.NDArray[np.int64]) -> pa.Array:
    """Integer cents as decimal128(12, 2), exactly: a decimal128 is the unscaled value as 128-bit integer."""
    words = np.empty((len(cents), 2), dtype=np.int64)
    words[:, 0] = cents
    words[:, 1] = cents >> 63
    return pa.Array.from_buffers(MONEY, len(cents), [None, pa.py_buffer(words.tobytes())])


def _times(ms: npt.NDArray[np.int64]) -> pa.Array:
    return pa.array(ms.astype("datetime64[ms]"), TIME)


def _ids(event_ids: pa.Array, prefix: str, numbers: npt.NDArray[np.int64]) -> pa.Array:
    return pc.binary_join_element_wise(event_ids, pc.cast(pa.array(numbers), pa.string()), prefix)


def _labels(names: Sequence[str], indices: npt.NDArray[Any]) -> pa.Array:
    """Strings by index into `names` (genders, cities, channels, gates...)."""
    return pa.array(np.asarray(names, dtype=object)[indices], pa.string())


def _numbers(counts: list[int]) -> npt.NDArray[np.int64]:
    """Each row's number within its event: 0, 1, ... per event."""
    return np.concatenate([np.arange(n, dtype=np.int64) for n in counts]) if counts else np.zeros(0, np.int64)


def _per_event(values: list[str], counts: list[int]) -> pa.Array:
    """One value per event (its id, its currency), repeated for each of the event's rows."""
    return pa.array(np.repeat(np.asarray(values, dtype=object), counts), pa.string())


def _event_ids(done: list[_Done], counts: list[int]) -> pa.Array:
    return _per_event([d.event.event_id for d in done], counts)


def _sales_table(done: list[_Done], people: dict[str, np.ndarray], params: MarketParams) -> pa.Table:
    counts = [len(d.sales.purchased_ms) for d in done]
    event_ids = _event_ids(done, counts)
    number = _numbers(counts)
    who = np.concatenate([d.customers for d in done]) if done else np.zeros(0, np.int64)
    tier_names = np.concatenate([np.array([t.name for t in d.event.tiers])[d.sales.tier] for d in done])
    cities = people["city"][who]
    buyer = pa.StructArray.from_arrays(
        [
            pa.array(people["birth_year"][who]),
            _labels(GENDERS, people["gender"][who]),
            pc.binary_join_element_wise(
                _labels([c.postal_prefix for c in CITIES], cities),
                pc.utf8_lpad(pc.cast(pa.array(people["postal"][who]), pa.string()), 3, "0"),
                "",
            ),
            _labels([c.name for c in CITIES], cities),
            _labels([c.region for c in CITIES], cities),
            _labels([c.country for c in CITIES], cities),
            pa.array(people["lat"][who]),
            pa.array(people["lon"][who]),
        ],
        names=["birth_year", "gender", "postal_code", "city", "region", "country", "lat", "lon"],
    )
    promo = np.concatenate([d.sales.promo for d in done])
    return pa.table(
        {
            "sale_id": _ids(event_ids, "-s", number),
            "event_id": event_ids,
            "customer_id": pc.binary_join_element_wise(f"cus-s{params.seed}", pc.cast(pa.array(who), pa.string()), "-"),
            "purchased_at": _times(np.concatenate([d.sales.purchased_ms for d in done])),
            "tier": pa.array(tier_names.astype(object), pa.string()),
            "quantity": pa.array(np.concatenate([d.sales.quantity for d in done]).astype(np.int64)),
            "unit_price": decimal_cents(np.concatenate([d.sales.price_cents for d in done])),
            "currency": _per_event([d.event.currency for d in done], counts),
            "channel": _labels(list(params.channels), np.concatenate([d.sales.channel for d in done])),
            "promo_code": pa.array(np.where(promo, "SAVE15", "").astype(object), pa.string()),
            "buyer": buyer,
        }
    )


def _scans_table(done: list[_Done]) -> pa.Table:
    counts = [len(d.scans.sale) for d in done]
    event_ids = _event_ids(done, counts)
    sale_ids = _ids(event_ids, "-s", np.concatenate([d.scans.sale for d in done]))
    ticket_ids = _ids(sale_ids, "-t", np.concatenate([d.scans.ticket for d in done]))
    gates = [f"Gate {chr(65 + g)}" for g in range(26)]
    gate = np.minimum(np.concatenate([d.scans.gate for d in done]), 25)
    exits = np.concatenate([d.scans.exit for d in done])
    return pa.table(
        {
            "scan_id": _ids(ticket_ids, "-", np.concatenate([d.scans.number for d in done])),
            "event_id": event_ids,
            "ticket_id": ticket_ids,
            "gate": _labels(gates, gate),
            "direction": pa.array(np.where(exits, "exit", "entry").astype(object), pa.string()),
            "scanned_at": _times(np.concatenate([d.scans.scanned_ms for d in done])),
        }
    )


def _revenue_table(done: list[_Done]) -> pa.Table:
    counts = [len(d.revenue.category) for d in done]
    event_ids = _event_ids(done, counts)
    category = _labels(CATEGORIES, np.concatenate([d.revenue.category for d in done]))
    keys = pc.binary_join_element_wise(
        category,
        pc.cast(pa.array(np.concatenate([d.revenue.key for d in done])), pa.string()),
        "-",
    )
    return pa.table(
        {
            "revenue_id": pc.binary_join_element_wise(event_ids, keys, "-r-"),
            "event_id": event_ids,
            "category": category,
            "amount": decimal_cents(np.concatenate([d.revenue.amount_cents for d in done])),
            "currency": _per_event([d.event.currency for d in done], counts),
            "recorded_at": _times(np.concatenate([d.revenue.recorded_ms for d in done])),
        }
    )


def _social_table(done: list[_Done]) -> pa.Table:
    counts = [len(d.social.posted_ms) for d in done]
    event_ids = _event_ids(done, counts)
    number = _numbers(counts)
    return pa.table(
        {
            "post_id": _ids(event_ids, "-p", number),
            "event_id": event_ids,
            "platform": _labels(PLATFORMS, np.concatenate([d.social.platform for d in done])),
            "kind": _labels(KINDS, np.concatenate([d.social.kind for d in done])),
            "posted_at": _times(np.concatenate([d.social.posted_ms for d in done])),
            "reach": pa.array(np.concatenate([d.social.reach for d in done])),
            "engagement": pa.array(np.concatenate([d.social.engagement for d in done])),
            "sentiment": pa.array(np.concatenate([d.social.sentiment for d in done]).astype(np.float64)),
            "author_followers": pa.array(np.concatenate([d.social.followers for d in done])),
        }
    )
