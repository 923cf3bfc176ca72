"""The pushed payloads. Updates carry the same snapshots as the live endpoints (api/realtime/schemas.py)."""

from __future__ import annotations

from decimal import Decimal

import msgspec


class Subscribed(msgspec.Struct, frozen=True):
    """The acknowledgement of `subscribe-event` / `unsubscribe-event`."""

    ok: bool
    event_id: str
    error: str | None = None


class SalesMilestone(msgspec.Struct, frozen=True):
    """`sales-milestone`: tickets sold reached a share of capacity or a round count (each once per event)."""

    event_id: str
    kind: str  # "share" or "count"
    threshold: float  # the share (0.5) or the count (1000)
    tickets: int
    capacity: int
    at: str


class CapacityAlert(msgspec.Struct, frozen=True):
    """`capacity-alert`: people inside reached 90% ("warning") or 100% ("full") of capacity (each level once)."""

    event_id: str
    level: str
    inside: int
    capacity: int
    share_of_capacity: float
    at: str


class RevenueMilestone(msgspec.Struct, frozen=True):
    """`revenue-milestone`: the event's net revenue reached a round amount (each once per event)."""

    event_id: str
    threshold: Decimal
    total: Decimal
    currency: str
    at: str


class ViralTrend(msgspec.Struct, frozen=True):
    """`viral-trend`: the event's social activity began trending (at most once per 15 minutes)."""

    event_id: str
    viral_score: float
    last_15_minutes: int
    baseline_15_minutes: float
    at: str
