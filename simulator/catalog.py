"""The catalog: venues in real cities, organizers, artists with drifting popularity, tours, events and tiers."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from simulator.params import GENRES, TIERS, Genre, MarketParams
from simulator.places import CITIES, VENUE_KIND_WEIGHTS, VENUE_KINDS, City

WEEK = timedelta(days=7)


@dataclass(frozen=True)
class Venue:
    venue_id: str
    name: str
    city: City
    city_index: int
    capacity: int
    lat: float
    lon: float
    gates: int


@dataclass(frozen=True)
class TierOffer:
    name: str
    price_cents: int
    capacity: int
    relative_price: float  # the price against what such a tier of such an event usually costs


@dataclass
class Event:
    event_id: str
    index: int
    organizer_id: str
    artist: str
    artist_index: int
    genre: Genre
    venue: Venue
    starts_at: datetime
    on_sale_at: datetime
    tiers: list[TierOffer]
    popularity: float  # the artist's popularity when the event went on sale
    promo_start: datetime | None = None
    cancelled_at: datetime | None = None
    competitors: int = 0  # other events in the same city within 3 days
    same_genre_competitors: int = 0

    @property
    def capacity(self) -> int:
        return sum(tier.capacity for tier in self.tiers)

    @property
    def currency(self) -> str:
        return self.venue.city.currency

    def record(self, now: datetime) -> dict[str, object]:
        """The event as the ingest endpoint takes it."""
        cancelled = self.cancelled_at is not None and self.cancelled_at <= now
        updated = (
            self.cancelled_at if cancelled and self.cancelled_at else min(self.on_sale_at, now) - timedelta(days=1)
        )
        return {
            "event_id": self.event_id,
            "organizer_id": self.organizer_id,
            "name": f"{self.artist} live in {self.venue.city.name}",
            "artist": self.artist,
            "genre": self.genre.name,
            "venue_id": self.venue.venue_id,
            "starts_at": self.starts_at.isoformat(),
            "on_sale_at": self.on_sale_at.isoformat(),
            "capacity": self.capacity,
            "currency": self.currency,
            "tiers": [
                {"name": t.name, "price": f"{t.price_cents / 100:.2f}", "capacity": t.capacity} for t in self.tiers
            ],
            "status": "cancelled" if cancelled else "scheduled",
            "updated_at": updated.isoformat(),
        }


@dataclass(frozen=True)
class Catalog:
    venues: list[Venue]
    events: list[Event]
    popularity: np.ndarray  # artists x weeks, from the market's first week
    first_week: datetime


def venue_record(venue: Venue) -> dict[str, object]:
    city = venue.city
    return {
        "venue_id": venue.venue_id,
        "name": venue.name,
        "city": city.name,
        "region": city.region,
        "country": city.country,
        "lat": venue.lat,
        "lon": venue.lon,
        "capacity": venue.capacity,
        "timezone": city.timezone,
    }


def _venues(params: MarketParams, rng: np.random.Generator) -> list[Venue]:
    cities = sorted(range(len(CITIES)), key=lambda i: -CITIES[i].population)[: params.cities_used]
    venues: list[Venue] = []
    for city_index in sorted(cities):
        city = CITIES[city_index]
        low, high = params.venues_per_city
        for _ in range(int(rng.integers(low, high + 1))):
            kind, smallest, largest = VENUE_KINDS[int(rng.choice(len(VENUE_KINDS), p=VENUE_KIND_WEIGHTS))]
            capacity = int(round(rng.uniform(smallest, largest), -2))
            number = len(venues)
            venues.append(
                Venue(
                    venue_id=f"ven-s{params.seed}-{number:04d}",
                    name=f"{city.name} {kind} {number}",
                    city=city,
                    city_index=city_index,
                    capacity=capacity,
                    lat=round(city.lat + rng.normal(0, 0.03), 5),
                    lon=round(city.lon + rng.normal(0, 0.03), 5),
                    gates=max(1, math.ceil(capacity / params.tickets_per_gate)),
                )
            )
    return venues


def _popularity(params: MarketParams, rng: np.random.Generator, weeks: int) -> np.ndarray:
    """Artists x weeks: a lognormal base level times a geometric random walk."""
    base = rng.lognormal(0, params.popularity_sigma, params.artists)
    base /= np.median(base)
    steps = rng.normal(0, params.popularity_drift, (params.artists, weeks))
    walk = np.exp(np.cumsum(steps, axis=1) - np.cumsum(steps, axis=1).mean(axis=1, keepdims=True))
    result: np.ndarray = base[:, None] * walk
    return result


def _local(day: datetime, hour: int, minute: int, zone: ZoneInfo) -> datetime:
    return datetime.combine(day.date(), time(hour, minute), tzinfo=zone)


def build(params: MarketParams, rng: np.random.Generator) -> Catalog:
    venues = _venues(params, rng)
    start = params.now - timedelta(days=params.past_days)
    end = params.now + timedelta(days=params.future_days)
    first_week = start - timedelta(days=max(params.lead_days) + 14)
    weeks = int((end - first_week) / WEEK) + 2
    popularity = _popularity(params, rng, weeks)
    genres = rng.integers(0, len(GENRES), params.artists)
    organizers_of = [
        rng.choice(params.organizers, size=int(rng.integers(1, 3)), replace=False) for _ in range(params.artists)
    ]
    by_city: dict[int, list[Venue]] = {}
    for venue in venues:
        by_city.setdefault(venue.city_index, []).append(venue)
    city_ids = sorted(by_city)
    city_weights = np.array([CITIES[i].population for i in city_ids], dtype=np.float64) ** 0.6
    city_weights /= city_weights.sum()
    events: list[Event] = []
    span = (end - start).total_seconds()
    while len(events) < params.events:
        artist = int(rng.integers(params.artists))
        genre = GENRES[int(genres[artist])]
        size = int(rng.integers(params.tour_size[0], params.tour_size[1] + 1))
        cities = rng.choice(city_ids, size=min(size, len(city_ids)), replace=False, p=city_weights)
        day = start + timedelta(seconds=float(rng.uniform(0, span)))
        for city_index in cities:
            if len(events) >= params.events or day > end:
                break
            city = CITIES[int(city_index)]
            zone = ZoneInfo(city.timezone)
            lead = int(rng.integers(params.lead_days[0], params.lead_days[1] + 1))
            starts_at = _local(day.astimezone(zone), int(rng.choice([19, 20, 20, 21])), 0, zone)
            on_sale_local = _local((starts_at - timedelta(days=lead)).astimezone(zone), 10, 0, zone)
            week = int((on_sale_local - first_week) / WEEK)
            level = float(popularity[artist, week])
            # The venue that suits the artist's draw in this city, with some luck either way.
            target = 17000 * level * (city.population / 1e6) ** 0.3 * rng.lognormal(0, 0.4)
            venue = _closest(by_city[int(city_index)], target)
            events.append(
                Event(
                    event_id=f"evt-s{params.seed}-{len(events):05d}",
                    index=len(events),
                    organizer_id=f"org-{int(rng.choice(organizers_of[artist])) + 1:02d}",
                    artist=f"Artist {artist:03d}",
                    artist_index=artist,
                    genre=genre,
                    venue=venue,
                    starts_at=starts_at.astimezone(params.now.tzinfo),
                    on_sale_at=on_sale_local.astimezone(params.now.tzinfo),
                    tiers=_tiers(genre, city, venue, level, rng, multiplier=params.price_multiplier),
                    popularity=level,
                )
            )
            day += timedelta(days=int(rng.integers(params.tour_spacing_days[0], params.tour_spacing_days[1] + 1)))
    _add_promotions_and_cancellations(params, events, rng)
    _count_competitors(events)
    return Catalog(venues, events, popularity, first_week)


def _closest(venues: list[Venue], capacity: float) -> Venue:
    """The venue whose capacity is nearest `capacity`, by ratio."""
    return min(venues, key=lambda venue: abs(math.log(venue.capacity / capacity)))


def _tiers(
    genre: Genre, city: City, venue: Venue, popularity: float, rng: np.random.Generator, *, multiplier: float
) -> list[TierOffer]:
    offers = []
    remaining = venue.capacity
    for position, tier in enumerate(TIERS):
        usual = genre.price_level * city.price_level * tier.price_ratio * popularity**0.3
        relative = float(rng.lognormal(0, 0.18)) * multiplier
        price_cents = max(500, round(usual * relative * 2) * 50)  # to the half unit, as box offices price
        seats = remaining if position == len(TIERS) - 1 else int(venue.capacity * tier.capacity_share)
        remaining -= seats
        offers.append(TierOffer(tier.name, price_cents, max(1, seats), relative))
    return offers


def _add_promotions_and_cancellations(params: MarketParams, events: list[Event], rng: np.random.Generator) -> None:
    for event in events:
        period = (event.starts_at - event.on_sale_at).total_seconds()
        if rng.random() < params.promo_rate:
            event.promo_start = event.on_sale_at + timedelta(seconds=float(rng.uniform(0.2, 0.75) * period))
        if rng.random() < params.cancel_rate:
            event.cancelled_at = event.on_sale_at + timedelta(seconds=float(rng.uniform(0.2, 0.9) * period))


def _count_competitors(events: list[Event]) -> None:
    by_city: dict[int, list[Event]] = {}
    for event in events:
        by_city.setdefault(event.venue.city_index, []).append(event)
    for group in by_city.values():
        for event in group:
            near = [
                other
                for other in group
                if other is not event and abs((other.starts_at - event.starts_at).total_seconds()) <= 3 * 86400
            ]
            event.competitors = len(near)
            event.same_genre_competitors = sum(other.genre is event.genre for other in near)
