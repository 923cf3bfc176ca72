"""The ingest contract's rules beyond types: money places, ISO codes, time zones and windows, signs.

Each check returns the problems of one record as (field, message) pairs; an empty list means valid. Rules
that need the catalog (does the event exist, is the tier one of its tiers, whose event is it) are applied
by the service, which has the catalog at hand.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cache

import pycountry

from api.ingest.schemas import Attendance, Event, Record, Revenue, RevenueCategory, Sale, Social, Venue

Problems = list[tuple[str, str]]
CENT = Decimal("0.01")
MONEY_LIMIT = Decimal("1e10")  # Decimal(12, 2) holds up to 10 digits before the point


@cache
def currencies() -> frozenset[str]:
    return frozenset(c.alpha_3 for c in pycountry.currencies)


@cache
def countries() -> frozenset[str]:
    return frozenset(c.alpha_2 for c in pycountry.countries)


@cache
def time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """Times a record may carry: facts from `max_past` ago to `max_future_facts` ahead (clock skew), catalog
    dates (event starts, on-sale) up to `max_future_catalog` ahead."""

    max_past: timedelta
    max_future_facts: timedelta
    max_future_catalog: timedelta

    def check(self, name: str, value: datetime, *, catalog: bool, now: datetime) -> Problems:
        ahead = self.max_future_catalog if catalog else self.max_future_facts
        if value < now - self.max_past:
            return [(name, f"is more than {self.max_past.days} days in the past")]
        if value > now + ahead:
            return [(name, f"is more than {_span(ahead)} in the future")]
        return []


def _span(delta: timedelta) -> str:
    return f"{delta.days} days" if delta.days else f"{int(delta.total_seconds() // 3600)} hours"


def money(name: str, value: Decimal, *, allow_negative: bool = False) -> Problems:
    if not value.is_finite():
        return [(name, "must be a finite amount")]
    if abs(value) >= MONEY_LIMIT:  # before quantize, which fails on numbers this large
        return [(name, "is out of range")]
    if value != value.quantize(CENT):
        return [(name, "has more than 2 decimal places")]
    if value < 0 and not allow_negative:
        return [(name, "must not be negative")]
    return []


def currency(name: str, value: str) -> Problems:
    return [] if value in currencies() else [(name, f"{value!r} is not an ISO 4217 currency code")]


def country(name: str, value: str | None) -> Problems:
    return [] if value is None or value in countries() else [(name, f"{value!r} is not an ISO 3166-1 alpha-2 code")]


def check_venue(venue: Venue, window: TimeWindow, now: datetime) -> Problems:
    problems = country("country", venue.country)
    if venue.timezone not in time_zones():
        problems.append(("timezone", f"{venue.timezone!r} is not an IANA time zone"))
    if venue.updated_at is not None:
        problems += window.check("updated_at", venue.updated_at, catalog=False, now=now)
    return problems


def path_segment(name: str, value: str) -> Problems:
    """An id that names a resource in the API's paths (`/api/realtime/sales/{eventId}`): a `/` splits it, `.` and
    `..` are removed by clients and proxies, and control characters cannot be sent; an event so named was stored
    and then never found."""
    if "/" in value or value in (".", "..") or any(ord(c) < 0x20 or c == "\x7f" for c in value):
        return [(name, "must be one URL path segment: no '/' or control characters, and not '.' or '..'")]
    return []


def check_event(event: Event, window: TimeWindow, now: datetime) -> Problems:
    problems = path_segment("event_id", event.event_id)
    problems += window.check("starts_at", event.starts_at, catalog=True, now=now)
    problems += window.check("on_sale_at", event.on_sale_at, catalog=True, now=now)
    problems += window.check("updated_at", event.updated_at, catalog=False, now=now)
    if event.on_sale_at > event.starts_at:
        problems.append(("on_sale_at", "must not be after starts_at"))
    if event.currency is not None:
        problems += currency("currency", event.currency)
    seen: set[str] = set()
    for position, tier in enumerate(event.tiers):
        problems += money(f"tiers[{position}].price", tier.price)
        if tier.name in seen:
            problems.append((f"tiers[{position}].name", f"{tier.name!r} appears twice"))
        seen.add(tier.name)
        if tier.capacity > event.capacity:
            problems.append((f"tiers[{position}].capacity", "is larger than the event's capacity"))
    return problems


def check_sale(sale: Sale, window: TimeWindow, now: datetime) -> Problems:
    problems = window.check("purchased_at", sale.purchased_at, catalog=False, now=now)
    problems += money("unit_price", sale.unit_price)
    problems += currency("currency", sale.currency)
    if sale.buyer is not None:
        problems += country("buyer.country", sale.buyer.country)
        if sale.buyer.birth_year is not None and sale.buyer.birth_year > now.year:
            problems.append(("buyer.birth_year", "is in the future"))
    return problems


def check_attendance(scan: Attendance, window: TimeWindow, now: datetime) -> Problems:
    return window.check("scanned_at", scan.scanned_at, catalog=False, now=now)


def check_revenue(line: Revenue, window: TimeWindow, now: datetime) -> Problems:
    refund = line.category is RevenueCategory.REFUND
    problems = window.check("recorded_at", line.recorded_at, catalog=False, now=now)
    problems += money("amount", line.amount, allow_negative=refund)
    problems += currency("currency", line.currency)
    if refund and line.amount.is_finite() and line.amount > 0:  # NaN cannot be compared (money() names it)
        problems.append(("amount", "a refund is negative (or zero)"))
    return problems


def check_social(post: Social, window: TimeWindow, now: datetime) -> Problems:
    return window.check("posted_at", post.posted_at, catalog=False, now=now)


CHECKS: dict[type[Record], Callable[..., Problems]] = {
    Venue: check_venue,
    Event: check_event,
    Sale: check_sale,
    Attendance: check_attendance,
    Revenue: check_revenue,
    Social: check_social,
}


def utc_now() -> datetime:
    return datetime.now(UTC)
