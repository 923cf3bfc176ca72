"""Every parameter of the simulated market, with its default and what it does.

The defaults describe a mid-sized European/North-American live-music and comedy market. Shares are in 0..1,
durations in days unless named otherwise, money in the event's currency.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime


@dataclass(frozen=True)
class Genre:
    """A genre's audience and habits."""

    name: str
    age_mean: float  # buyers' mean age
    age_sd: float  # spread of buyers' ages
    female_share: float  # share of buyers who give `female` (the rest `male`, and `nonbinary_share` of all)
    price_level: float  # typical GA price, before the artist's popularity and the city's price level
    elasticity: float  # demand falls as (price / typical price) ** -elasticity
    show_rate: float  # share of sold tickets scanned at the door
    social_intensity: float  # social posts per day per unit of popularity, before bursts
    platforms: dict[str, float]  # where its audience posts


GENRES: tuple[Genre, ...] = (
    Genre("pop", 24, 7, 0.68, 65, 1.1, 0.93, 9.0, {"tiktok": 0.4, "instagram": 0.35, "x": 0.15, "youtube": 0.1}),
    Genre("rock", 38, 11, 0.42, 55, 1.0, 0.91, 4.0, {"x": 0.3, "facebook": 0.3, "instagram": 0.25, "reddit": 0.15}),
    Genre("hip_hop", 23, 5, 0.45, 60, 1.2, 0.90, 8.0, {"tiktok": 0.35, "instagram": 0.35, "x": 0.2, "youtube": 0.1}),
    Genre("electronic", 27, 6, 0.44, 45, 1.4, 0.87, 5.0, {"instagram": 0.4, "tiktok": 0.3, "reddit": 0.2, "x": 0.1}),
    Genre("jazz", 49, 13, 0.50, 40, 0.8, 0.95, 1.5, {"facebook": 0.5, "x": 0.2, "instagram": 0.2, "youtube": 0.1}),
    Genre("classical", 56, 14, 0.57, 50, 0.7, 0.96, 1.0, {"facebook": 0.6, "x": 0.2, "youtube": 0.2}),
    Genre("country", 41, 12, 0.58, 50, 1.0, 0.92, 3.0, {"facebook": 0.45, "instagram": 0.3, "x": 0.15, "youtube": 0.1}),
    Genre("comedy", 35, 10, 0.48, 35, 1.3, 0.89, 3.5, {"instagram": 0.35, "tiktok": 0.3, "youtube": 0.2, "x": 0.15}),
)


@dataclass(frozen=True)
class Tier:
    """A price tier: its price against GA, and its share of the venue's capacity."""

    name: str
    price_ratio: float
    capacity_share: float


TIERS: tuple[Tier, ...] = (
    Tier("GA", 1.0, 0.70),
    Tier("Reserved", 1.6, 0.22),
    Tier("VIP", 3.5, 0.08),
)


def _default_now() -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0)


@dataclass(frozen=True)
class MarketParams:
    """The whole market. `events` and `seed` are the usual knobs; the rest shape the dynamics."""

    # --- size and time
    seed: int = 7  # the same seed (and parameters) gives the same market, byte for byte
    events: int = 300  # events in the market
    now: datetime = field(default_factory=_default_now)  # splits past events (complete) from upcoming ones
    past_days: int = 420  # events start up to this long before `now`...
    future_days: int = 150  # ...and up to this long after it
    organizers: int = 12  # promoters; each artist works with one or two
    artists: int = 160  # performers, each with one genre
    cities_used: int = 36  # how many of the real cities (places.py) have venues
    venues_per_city: tuple[int, int] = (2, 4)  # venues per city, inclusive range
    # --- artists and events
    popularity_sigma: float = 0.8  # spread of artists' base popularity (lognormal)
    popularity_drift: float = 0.06  # weekly volatility of an artist's popularity (geometric random walk)
    tour_size: tuple[int, int] = (2, 8)  # cities per tour
    tour_spacing_days: tuple[int, int] = (1, 4)  # days between two dates of a tour
    lead_days: tuple[int, int] = (35, 150)  # on-sale to show
    cancel_rate: float = 0.015  # events cancelled (every ticket refunded)
    promo_rate: float = 0.35  # events with one promotion
    promo_days: int = 3  # a promotion's length
    promo_lift: float = 1.9  # sales multiplier during a promotion
    promo_discount: float = 0.15  # price cut for sales with the promo code
    # --- demand
    price_multiplier: float = 1.0  # every price times this (demand answers through each genre's elasticity)
    demand_level: float = 0.75  # tickets wanted / capacity for a typical artist in a typical city
    demand_noise: float = 0.35  # lognormal noise on an event's total demand
    competition: float = 0.35  # each other event in the same city and week takes this share of demand
    competition_same_genre: float = 0.5  # ...and this much more when it is of the same genre
    city_size_effect: float = 0.25  # demand grows as (population / 1M) ** city_size_effect
    onsale_spike_share: float = 0.28  # share of a (non sold-out) event's sales in the on-sale burst
    onsale_decay_days: float = 1.5  # how fast the on-sale burst fades
    final_ramp_share: float = 0.35  # share of sales in the final ramp
    final_ramp_days: float = 12.0  # the final ramp's time scale (exponential towards the show)
    weekday_effect: tuple[float, ...] = (1.0, 1.05, 1.1, 1.1, 1.15, 0.85, 0.75)  # Mon..Sun
    payday_lift: float = 1.3  # sales multiplier on the 1st, 15th and last day of a month
    # --- social
    burst_rate: float = 1 / 35  # viral bursts per day of an event's sales period
    burst_size: tuple[float, float] = (4.0, 15.0)  # a burst multiplies social activity by this much
    burst_decay_days: float = 1.2  # how fast a burst fades
    burst_sales_lift: float = 0.12  # sales multiplier per unit of (lagged) burst, i.e. (1 + lift * burst)
    burst_lead_days: int = 2  # social bursts lead the sales they cause by this many days
    # --- buyers
    repeat_rate: float = 0.3  # share of sales to a customer who bought before (same city, same genre)
    travel_share: float = 0.18  # share of buyers from other cities
    travel_scale_km: float = 250.0  # travelling buyers' distance decay: weight ~ population * exp(-d / scale)
    nonbinary_share: float = 0.02  # buyers who give `nonbinary`
    basket: tuple[float, ...] = (0.38, 0.36, 0.08, 0.13, 0.03, 0.02)  # P(quantity = 1..6)
    channels: dict[str, float] = field(
        default_factory=lambda: {"web": 0.55, "app": 0.3, "box_office": 0.05, "partner": 0.07, "resale": 0.03}
    )
    resale_markup: float = 1.25  # resale sales go at this multiple of the tier price
    # --- the event itself
    doors_before_minutes: int = 90  # doors open this long before the start
    reentry_rate: float = 0.07  # attendees who leave and come back
    tickets_per_gate: int = 2500  # one gate per this many seats
    refund_rate: float = 0.02  # sales refunded (besides cancelled events)
    fee_rate: float = 0.1  # booking fee, share of the ticket price...
    fee_per_ticket: float = 1.5  # ...plus this per ticket
    merch_per_attendee: float = 9.0  # mean merchandise spend per attendee
    food_per_attendee: float = 14.0  # mean food & beverage spend per attendee
    show_minutes: int = 180  # length of a show
