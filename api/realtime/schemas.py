"""What the live endpoints answer. Times are ISO 8601 in the requested time zone; money is decimal text."""

from __future__ import annotations

from decimal import Decimal

import msgspec


class Bucket(msgspec.Struct, frozen=True):
    """One time bucket of a series: its start, in the requested time zone, and its value (0 for a quiet one)."""

    at: str
    value: Decimal


class Breakdown(msgspec.Struct, frozen=True):
    """Tickets and gross of one tier or channel."""

    name: str
    tickets: int
    gross: Decimal
    capacity: int | None = None  # tiers only
    sell_through: float | None = None  # tiers only


class Milestone(msgspec.Struct, frozen=True):
    """A sales milestone the event reached, and when: a share of capacity or a round count of tickets."""

    share: float  # the milestone as a share of capacity
    tickets: int  # the milestone as tickets sold
    reached_at: str
    kind: str = "share"  # "share" (TICKETTOKEN_MILESTONE_SHARES) or "count" (TICKETTOKEN_MILESTONE_COUNTS)


class AlertReached(msgspec.Struct, frozen=True):
    """A capacity alert level the event reached, and when inside first reached it."""

    level: str  # "warning" (90% of capacity inside) or "full" (100%)
    inside: int  # the tickets inside that make the level
    reached_at: str


class RevenueReached(msgspec.Struct, frozen=True):
    """A revenue milestone (TICKETTOKEN_REVENUE_MILESTONES) and when the net total first reached it."""

    threshold: Decimal
    reached_at: str


class SalesSnapshot(msgspec.Struct, frozen=True):
    """An event's sales as of `at`: totals, sell-through, breakdowns, velocity, a series, a projection."""

    event_id: str
    at: str
    timezone: str
    currency: str  # the event's, or its facts' when it names none ("" before any)
    capacity: int
    tickets: int
    sales: int
    gross: Decimal
    sell_through: float
    by_tier: list[Breakdown]
    by_channel: list[Breakdown]
    velocity: dict[str, int]  # tickets in the last 1, 5, 15 and 60 minutes ("1m", "5m", "15m", "60m")
    series: list[Bucket]  # tickets per bucket over the window
    bucket_minutes: int
    # At the last hour's pace; None when nothing sold in it, when sold out, or when that pace would not sell the
    # event out before it starts.
    projected_sell_out_at: str | None
    sold_out_at: str | None
    milestones: list[Milestone]  # those reached, with when, in the order reached: shares and counts (each pushed once)


class Gate(msgspec.Struct, frozen=True):
    gate: str
    entries: int
    exits: int


class AttendanceSnapshot(msgspec.Struct, frozen=True):
    """An event's gate scans as of `at`."""

    event_id: str
    at: str
    timezone: str
    capacity: int
    tickets_sold: int
    entries: int  # entry scans, re-entries included
    exits: int
    inside: int  # tickets whose latest scan is an entry
    attendees: int  # distinct tickets scanned in
    no_shows: int  # tickets sold and not (yet) scanned
    share_of_capacity: float  # inside / capacity
    alert: str  # now: "normal", "warning" (inside >= 90% of capacity) or "full" (>= 100%)
    alerts: list[AlertReached]  # the levels inside has reached, now or before, with when (each pushed once)
    entry_rate: dict[str, int]  # entries in the last 1, 5, 15 and 60 minutes
    series: list[Bucket]  # entries per bucket over the window
    bucket_minutes: int
    by_gate: list[Gate]


class CategoryTotal(msgspec.Struct, frozen=True):
    category: str
    amount: Decimal
    lines: int


class RevenueSnapshot(msgspec.Struct, frozen=True):
    """An event's revenue lines as of `at`."""

    event_id: str
    at: str
    timezone: str
    currency: str  # the event's, or its facts' when it names none ("" before any)
    total: Decimal  # every line, refunds (negative) included
    refunds: Decimal  # the refund lines' sum (zero or negative)
    refund_lines: int
    by_category: list[CategoryTotal]
    last_hour: Decimal  # net amount recorded in the last 60 minutes: the current pace
    series: list[Bucket]  # net amount per bucket over the window
    bucket_minutes: int
    ends_at: str  # the event's assumed end (its start plus EVENT_HOURS)
    projected_total: Decimal  # total plus the last hour's pace until `ends_at`
    milestones: list[RevenueReached]  # the milestones the net total has reached, with when (each pushed once)


class Count(msgspec.Struct, frozen=True):
    name: str
    posts: int
    per_bucket: list[int]  # its posts in each bucket of the snapshot's `series`, in the same order


class SocialSnapshot(msgspec.Struct, frozen=True):
    """An event's social activity as of `at`."""

    event_id: str
    at: str
    timezone: str
    posts: int
    reach: int
    engagement: int
    sentiment: float | None  # mean of the scored posts, -1..1
    by_platform: list[Count]  # each with its activity per bucket
    by_kind: list[Count]
    series: list[Bucket]  # posts per bucket over the window
    bucket_minutes: int
    last_15_minutes: int
    # mean posts per 15 minutes before the last 15: since the event's first post, 24 hours at most, an hour at least
    baseline_15_minutes: float
    viral_score: float  # last_15_minutes / baseline (the baseline at least 1 post)
    trending: bool  # viral_score >= TRENDING_SCORE and at least TRENDING_POSTS posts in the last 15 minutes
