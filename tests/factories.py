"""Valid ingest records as JSON-ready dicts (and, for the writer's tests, decoded); tests override the fields
they are about."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from api.ingest.schemas import Sale


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def venue(**overrides: Any) -> dict[str, Any]:
    return {
        "venue_id": new_id("venue"),
        "name": "Columbiahalle",
        "city": "Berlin",
        "region": "Berlin",
        "country": "DE",
        "lat": 52.4862,
        "lon": 13.3914,
        "capacity": 3500,
        "timezone": "Europe/Berlin",
        **overrides,
    }


def event(venue_id: str, organizer_id: str = "org-1", **overrides: Any) -> dict[str, Any]:
    starts = now() + timedelta(days=30)
    return {
        "event_id": new_id("event"),
        "organizer_id": organizer_id,
        "name": "Night of Tests",
        "artist": "The Fixtures",
        "genre": "rock",
        "venue_id": venue_id,
        "starts_at": _iso(starts),
        "on_sale_at": _iso(now() - timedelta(days=10)),
        "capacity": 3000,
        "tiers": [
            {"name": "GA", "price": "49.90", "capacity": 2500},
            {"name": "VIP", "price": 129, "capacity": 500},
        ],
        "status": "scheduled",
        "updated_at": _iso(now()),
        "currency": "EUR",
        **overrides,
    }


def sale(event_id: str, **overrides: Any) -> dict[str, Any]:
    return {
        "sale_id": new_id("sale"),
        "event_id": event_id,
        "customer_id": new_id("customer"),
        "purchased_at": (now() - timedelta(minutes=5)).astimezone(datetime.now().astimezone().tzinfo).isoformat(),
        "tier": "GA",
        "quantity": 2,
        "unit_price": "49.90",
        "currency": "EUR",
        "channel": "web",
        "buyer": {"birth_year": 1990, "gender": "female", "postal_code": "10115", "city": "Berlin", "country": "DE"},
        **overrides,
    }


def sale_records(count: int) -> list[Sale]:
    """`count` sales of one new event, decoded as the ingest service hands them to its writer."""
    event_id = new_id("event")
    return msgspec.convert([sale(event_id) for _ in range(count)], list[Sale], strict=False)


def scan(event_id: str, **overrides: Any) -> dict[str, Any]:
    return {
        "scan_id": new_id("scan"),
        "event_id": event_id,
        "ticket_id": new_id("ticket"),
        "gate": "north",
        "direction": "entry",
        "scanned_at": _iso(now() - timedelta(minutes=1)),
        **overrides,
    }


def revenue(event_id: str, **overrides: Any) -> dict[str, Any]:
    return {
        "revenue_id": new_id("rev"),
        "event_id": event_id,
        "category": "merchandise",
        "amount": "25.00",
        "currency": "EUR",
        "recorded_at": _iso(now() - timedelta(minutes=1)),
        **overrides,
    }


def social(event_id: str, **overrides: Any) -> dict[str, Any]:
    return {
        "post_id": new_id("post"),
        "event_id": event_id,
        "platform": "instagram",
        "kind": "post",
        "posted_at": _iso(now() - timedelta(minutes=1)),
        "reach": 1200,
        "engagement": 87,
        "sentiment": 0.6,
        **overrides,
    }
