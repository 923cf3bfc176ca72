"""The simulated market behaves like a ticket market: the dynamics of simulator/params.py hold in the data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from simulator.footprint import TooLarge, check_fits
from simulator.live import Stock
from simulator.market import Market, generate
from simulator.params import MarketParams
from simulator.places import CITIES, distance_km

NOW = datetime(2026, 10, 1, 12, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture(scope="module")
def market() -> Market:
    return generate(MarketParams(seed=11, events=160, now=NOW))


def _frame(market: Market, stream: str) -> pl.DataFrame:
    frame = pl.from_arrow(market.streams()[stream])
    assert isinstance(frame, pl.DataFrame)
    return frame


def _events(market: Market) -> pl.DataFrame:
    rows: list[dict[str, Any]] = [
        {
            "event_id": e.event_id,
            "genre": e.genre.name,
            "on_sale_at": e.on_sale_at,
            "starts_at": e.starts_at,
            "capacity": e.capacity,
            "cancelled": e.cancelled_at is not None,
            "city": e.venue.city.name,
            "lat": e.venue.lat,
            "lon": e.venue.lon,
        }
        for e in market.catalog.events
    ]
    return pl.DataFrame(rows)


def _complete(market: Market) -> list[str]:
    """Events whose whole sales period lies before `now`, not cancelled, not sold out."""
    return [
        e.event_id
        for e, sold_out in zip(market.catalog.events, market.truth.sold_out, strict=True)
        if e.starts_at < NOW and e.cancelled_at is None and not sold_out
    ]


def test_the_same_seed_gives_the_same_market() -> None:
    params = MarketParams(seed=5, events=25, now=NOW)
    first, second = generate(params), generate(params)
    assert first.events == second.events and first.venues == second.venues
    for name, table in first.streams().items():
        assert table.equals(second.streams()[name]), name
    other = generate(MarketParams(seed=6, events=25, now=NOW))
    assert not other.sales.equals(first.sales)


def test_the_market_has_every_stream_and_nothing_after_now(market: Market) -> None:
    for name, table in market.streams().items():
        assert table.num_rows > 1000, name
        times = [c for c in table.column_names if c.endswith("_at")]
        assert pl.from_arrow(table.select(times)).max().row(0)[0] <= NOW, name  # type: ignore[union-attr]
    assert {e["status"] for e in market.events} <= {"scheduled", "cancelled"}
    assert any(e.starts_at > NOW for e in market.catalog.events), "upcoming events are on sale"
    assert any(e.starts_at < NOW for e in market.catalog.events), "past events are complete"


def test_booking_curve_spikes_at_on_sale_lulls_and_ramps_up(market: Market) -> None:
    sales = _frame(market, "sale").join(_events(market), on="event_id")
    sales = sales.filter(pl.col("event_id").is_in(_complete(market)))
    period = (pl.col("starts_at") - pl.col("on_sale_at")).dt.total_seconds()
    since = (pl.col("purchased_at") - pl.col("on_sale_at")).dt.total_seconds() / period
    shares = sales.with_columns(since.alias("at")).select(
        first_days=((pl.col("purchased_at") - pl.col("on_sale_at")) < pl.duration(days=3)).mean(),
        last_weeks=((pl.col("starts_at") - pl.col("purchased_at")) < pl.duration(days=21)).mean(),
        middle_third=((pl.col("at") > 1 / 3) & (pl.col("at") < 2 / 3)).mean(),
    )
    first_days, last_weeks, middle_third = shares.row(0)
    assert first_days > 0.2, "a spike at on-sale: the first three days sell a fifth or more"
    assert last_weeks > 0.25, "a ramp in the final three weeks"
    assert middle_third < 0.25, "a lull in the middle third of the period"


def test_sales_never_exceed_capacity_and_sell_outs_leave_demand_unmet(market: Market) -> None:
    sold = _frame(market, "sale").group_by("event_id", "tier").agg(pl.col("quantity").sum())
    capacity = pl.DataFrame(
        [
            {"event_id": e.event_id, "tier": t.name, "capacity": t.capacity}
            for e in market.catalog.events
            for t in e.tiers
        ]
    )
    joined = sold.join(capacity, on=["event_id", "tier"])
    assert len(joined) == len(sold)
    assert (joined["quantity"] <= joined["capacity"]).all()
    truth = market.truth
    assert truth.sold_out.any() and not truth.sold_out.all()
    assert (truth.sold_total <= truth.capacity).all()
    assert (truth.demand[truth.sold_out] > truth.sold_total[truth.sold_out]).all(), "demand left unmet"


def test_higher_prices_sell_fewer_tickets_in_every_tier() -> None:
    def tickets(multiplier: float) -> dict[str, int]:
        sold = generate(MarketParams(seed=3, events=60, now=NOW, price_multiplier=multiplier)).sales
        frame = pl.from_arrow(sold.select(["tier", "quantity"]))
        assert isinstance(frame, pl.DataFrame)
        return dict(frame.group_by("tier").agg(pl.col("quantity").sum()).iter_rows())

    usual, dearer = tickets(1.0), tickets(1.4)
    for tier in ("GA", "Reserved", "VIP"):
        assert dearer[tier] < usual[tier] * 0.9, tier


def test_demographics_differ_by_genre(market: Market) -> None:
    sales = _frame(market, "sale").join(_events(market), on="event_id")
    by_genre = sales.group_by("genre").agg(
        age=(pl.col("purchased_at").dt.year() - pl.col("buyer").struct.field("birth_year")).mean(),
        female=(pl.col("buyer").struct.field("gender") == "female").mean(),
    )
    age = dict(by_genre.select("genre", "age").iter_rows())
    female = dict(by_genre.select("genre", "female").iter_rows())
    present = set(age)
    if {"classical", "pop"} <= present:
        assert age["classical"] - age["pop"] > 15
    if {"pop", "rock"} <= present:
        assert female["pop"] - female["rock"] > 0.15
    assert max(age.values()) - min(age.values()) > 15


def test_most_buyers_live_near_the_venue(market: Market) -> None:
    sales = _frame(market, "sale").join(_events(market), on="event_id")
    local = (sales["buyer"].struct.field("city") == sales["city"]).mean()
    assert 0.7 < local < 0.95, local  # type: ignore[operator]
    sample = sales.sample(2000, seed=1)
    km = [
        distance_km(b["lat"], b["lon"], lat, lon)
        for b, lat, lon in zip(sample["buyer"], sample["lat"], sample["lon"], strict=True)
    ]
    assert np.median(km) < 30
    assert np.percentile(km, 95) > 100, "some travel"
    assert {c.name for c in CITIES} >= set(sales["buyer"].struct.field("city").unique())


def test_repeat_customers_come_back(market: Market) -> None:
    per_customer = _frame(market, "sale").group_by("customer_id").agg(pl.col("event_id").n_unique())
    assert (per_customer["event_id"] > 1).mean() > 0.05  # type: ignore[operator]


def test_show_rates_and_re_entries_are_in_range(market: Market) -> None:
    scans = _frame(market, "attendance")
    past = [e.event_id for e in market.catalog.events if e.starts_at + DAY < NOW and e.cancelled_at is None]
    tickets = (
        _frame(market, "sale").filter(pl.col("event_id").is_in(past)).group_by("event_id").agg(pl.col("quantity").sum())
    )
    counts = (
        scans.filter(pl.col("event_id").is_in(past))
        .group_by("event_id")
        .agg(
            first=(pl.col("scan_id").str.ends_with("-1")).sum(),
            exits=(pl.col("direction") == "exit").sum(),
            entries=(pl.col("direction") == "entry").sum(),
        )
        .join(tickets, on="event_id")
    )
    show = counts["first"] / counts["quantity"]
    assert show.min() > 0.8 and show.max() < 0.99  # type: ignore[operator]
    reentry = float(counts["exits"].sum()) / float(counts["first"].sum())
    assert 0.04 < reentry < 0.1
    assert (counts["entries"] == counts["first"] + counts["exits"]).all(), "every exit is followed by a re-entry"


def test_refunds_are_negative_and_everything_else_is_not(market: Market) -> None:
    lines = _frame(market, "revenue")
    refunds = lines.filter(pl.col("category") == "refund")
    assert len(refunds) > 0 and (refunds["amount"] < 0).all()
    assert (lines.filter(pl.col("category") != "refund")["amount"] >= 0).all()
    assert set(lines["category"].unique()) >= {"tickets", "fees", "merchandise", "food_beverage", "refund"}


def test_social_bursts_precede_sales_lifts(market: Market) -> None:
    sales = _frame(market, "sale")
    posts = _frame(market, "social")
    lifts: list[float] = []
    controls: list[float] = []
    rng = np.random.default_rng(0)
    for event in market.catalog.events:
        if event.starts_at > NOW or event.cancelled_at is not None:
            continue
        start = event.on_sale_at
        days = int((event.starts_at - start) / DAY)
        daily = np.bincount(
            ((sales.filter(pl.col("event_id") == event.event_id)["purchased_at"] - start).dt.total_days()).to_numpy(),
            minlength=days + 1,
        )
        offsets = (posts.filter(pl.col("event_id") == event.event_id)["posted_at"] - start).dt.total_days()
        chatter = np.bincount(offsets.filter(offsets >= 0).to_numpy(), minlength=days + 3)
        middle = range(6, days - 25)
        if len(middle) < 10 or daily[6 : days - 25].mean() < 5:
            continue
        typical = np.median(chatter[middle])
        bursts = [d for d in middle if chatter[d] > 3 * typical + 5 and chatter[d - 1] <= 3 * typical + 5]
        lifts.extend(daily[d + 2] / max(1.0, daily[d - 3 : d].mean()) for d in bursts)
        sample = rng.choice(list(middle), size=min(5, len(middle)), replace=False)
        controls.extend(daily[d + 2] / max(1.0, daily[d - 3 : d].mean()) for d in sample)
    assert len(lifts) >= 5, "enough bursts to judge"
    assert np.mean(lifts) > 1.3 * np.mean(controls), (np.mean(lifts), np.mean(controls))


def test_live_traffic_sells_what_is_left_and_admits_only_ticket_holders(market: Market) -> None:
    """The live traffic sold past tiers' capacity, went on selling sold-out events and let in more people than
    had tickets: its stock starts from what is stored and counts down."""
    event = market.catalog.events[0]
    ga, *others = event.tiers
    sold = {(event.event_id, ga.name): ga.capacity - 3} | {(event.event_id, t.name): t.capacity for t in others}
    stock = Stock.of([event], sold, {event.event_id: event.capacity - 4})  # 1 sold but not yet in
    rng = np.random.default_rng(3)
    baskets = []
    while (basket := stock.sell(event, rng)) is not None:
        baskets.append(basket)
    assert [tier.name for tier, _ in baskets] == [ga.name] * len(baskets), "only GA had tickets left"
    assert sum(quantity for _, quantity in baskets) == 3
    assert not stock.on_sale(event)
    assert [stock.admit(event) for _ in range(5)] == [True] * 4 + [False], "1 sold before and 3 live, no more"


def test_the_memory_a_market_needs_is_held_to_what_is_available(tmp_path: Path) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       25000000 kB\nMemAvailable:    4882813 kB\n")  # 5.0 GB
    check_fits(1_000, meminfo)  # 5.0 GB needed: fits just
    with pytest.raises(TooLarge, match=r"^1,001 events need about 5\.0 GB .* \(at most about 1,000 events\)$"):
        check_fits(1_001, meminfo)
    check_fits(10**9, tmp_path / "missing")  # unknown: not refused
