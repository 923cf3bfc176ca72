"""The live aggregates of one event, from the raw tables. No HTTP here."""

from __future__ import annotations

import math
import threading
import time
import zoneinfo
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from clickhouse_connect.driver.client import Client

from api.auth.keys import ApiKey
from api.realtime import queries
from api.realtime.schemas import (
    AttendanceSnapshot,
    Breakdown,
    Bucket,
    CategoryTotal,
    Count,
    Gate,
    Milestone,
    RevenueSnapshot,
    SalesSnapshot,
    SocialSnapshot,
)

MILESTONE_SHARES = (0.25, 0.5, 0.75, 0.9, 1.0)
# A record's copies always share a partition (the month of its own time, docs/ingest.md), so FINAL need not merge
# across partitions: with this, the live queries' FINAL costs about what reading without it does (measured: an
# event of 25,000 sales, totals 28 -> 14 ms, a series 22 -> 5 ms).
LIVE_SETTINGS = {"do_not_merge_across_partitions_select_final": 1}
EVENT_SECONDS = 5.0  # how long a worker trusts what it read of an event (its organizer, capacity, zone)
EVENT_HOURS = 4  # events carry no end time: revenue is projected to four hours after the start
TRENDING_SCORE = 3.0  # trending: three times the event's own baseline rate...
TRENDING_POSTS = 10  # ...and at least this many posts in the last 15 minutes
WARNING_SHARE = 0.9  # the capacity alert: "warning" from 90% inside, "full" from 100%
VELOCITY_MINUTES = (1, 5, 15, 60)


class UnknownEvent(Exception):
    """No such event (a 404)."""


class ForeignEvent(Exception):
    """The event belongs to an organizer the key is not bound to (a 403)."""


class BadParameter(Exception):
    """A query parameter is out of its domain (a 400 naming it)."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name


@dataclass(frozen=True)
class EventInfo:
    event_id: str
    organizer_id: str
    capacity: int
    currency: str
    tiers: dict[str, int]  # name -> capacity
    timezone: str
    starts_at: datetime


@dataclass(frozen=True)
class Frame:
    """What a request asks about: the moment, the zone to bucket and print times in, the series' shape."""

    at: datetime  # UTC
    zone: zoneinfo.ZoneInfo
    window_minutes: int
    bucket_minutes: int

    @property
    def local_at(self) -> str:
        """The moment, printed in the requested zone."""
        return self.at.astimezone(self.zone).isoformat()

    def iso(self, epoch_seconds: float) -> str:
        return datetime.fromtimestamp(epoch_seconds, self.zone).isoformat()

    def parameters(self, event_id: str) -> dict[str, Any]:
        return {
            "event_id": event_id,
            "at": self.at.replace(tzinfo=None),
            "start": (self.at - timedelta(minutes=self.window_minutes)).replace(tzinfo=None),
            "count": queries.bucket_unit(self.bucket_minutes)[1],
            "tz": self.zone.key,
        }


def frame(event: EventInfo, *, at: datetime | None, tz: str | None, window: int, bucket: int) -> Frame:
    """The request's frame, each parameter checked (BadParameter names the one that is wrong)."""
    name = tz or event.timezone or "UTC"
    try:
        zone = zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as error:
        raise BadParameter("tz", f"{name!r} is not an IANA time zone") from error
    if at is not None and at.tzinfo is None:
        raise BadParameter("at", "must carry a time zone (e.g. 2026-05-01T20:00:00+02:00)")
    if not 1 <= window <= 7 * 24 * 60:
        raise BadParameter("window", "must be between 1 and 10080 minutes")
    if not 1 <= bucket <= window:
        raise BadParameter("bucket", "must be between 1 and the window's minutes")
    if window / bucket > 2000:
        raise BadParameter("bucket", "at most 2000 buckets per window: choose larger buckets")
    moment = (at or datetime.now(UTC)).astimezone(UTC)
    return Frame(moment, zone, window, bucket)


@dataclass
class RealtimeService:
    client: Callable[[], Client]
    _events: dict[str, tuple[float, EventInfo]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def event(self, event_id: str, key: ApiKey) -> EventInfo:
        """The event, when the key may see it. Blocking."""
        event = self.event_info(event_id)
        if not key.allows_organizer(event.organizer_id):
            raise ForeignEvent(f"event {event_id!r} belongs to another organizer")
        return event

    def cached_event(self, event_id: str, key: ApiKey) -> EventInfo | None:
        """The event from this worker's memory, when the key may see it and it is there; never queries."""
        with self._lock:
            hit = self._events.get(event_id)
        if hit is None or time.monotonic() >= hit[0] or not key.allows_organizer(hit[1].organizer_id):
            return None
        return hit[1]

    def event_info(self, event_id: str) -> EventInfo:
        """The event (kept EVENT_SECONDS per worker), whoever asks. Blocking."""
        with self._lock:
            hit = self._events.get(event_id)
        if hit is not None and time.monotonic() < hit[0]:
            event = hit[1]
        else:
            event = self._read_event(event_id)
            with self._lock:
                if len(self._events) > 10_000:
                    self._events.clear()
                self._events[event_id] = (time.monotonic() + EVENT_SECONDS, event)
        return event

    def _read_event(self, event_id: str) -> EventInfo:
        rows = self.client().query(queries.EVENT, parameters={"event_id": event_id}).result_rows
        if not rows:
            raise UnknownEvent(f"no event {event_id!r}")
        _, organizer, capacity, currency, tier_names, tier_capacities, timezone, starts_ms = rows[0]
        tiers = {str(n): int(c) for n, c in zip(tier_names, tier_capacities, strict=True)}
        starts_at = datetime.fromtimestamp(int(starts_ms) / 1000, UTC)
        return EventInfo(event_id, str(organizer), int(capacity), str(currency), tiers, str(timezone or ""), starts_at)

    def sales(self, event: EventInfo, frame: Frame) -> SalesSnapshot:
        client = self.client()
        parameters = frame.parameters(event.event_id)
        groups = _rows(client, queries.SALES_TOTALS, parameters)
        tiers: dict[str, list[Any]] = {name: [0, Decimal(0)] for name in event.tiers}
        channels: dict[str, list[Any]] = {}
        velocity = [0, 0, 0, 0]
        sales = 0
        for tier, channel, tickets, gross, count, *recent in groups:
            for bucket in (
                tiers.setdefault(str(tier), [0, Decimal(0)]),
                channels.setdefault(str(channel), [0, Decimal(0)]),
            ):
                bucket[0] += int(tickets)
                bucket[1] += Decimal(gross)
            sales += int(count)
            velocity = [v + int(r) for v, r in zip(velocity, recent, strict=True)]
        tickets = sum(t for t, _ in tiers.values())
        gross = sum((g for _, g in tiers.values()), Decimal(0))
        series = _series(client, frame, parameters, queries.SALES_SERIES, "purchased_at")
        thresholds = [max(1, math.ceil(share * event.capacity)) for share in MILESTONE_SHARES]
        rows = _rows(client, queries.SALES_MILESTONES, {**parameters, "thresholds": thresholds})
        reached: dict[int, int] = {int(threshold): int(ms) for threshold, ms in rows}
        milestones = [
            Milestone(share, threshold, frame.iso(reached[threshold] / 1000))
            for share, threshold in zip(MILESTONE_SHARES, thresholds, strict=True)
            if threshold in reached
        ]
        sold_out = milestones[-1].reached_at if milestones and milestones[-1].share == 1.0 else None
        per_minute = velocity[3] / 60
        remaining = event.capacity - tickets
        projected = None
        if remaining > 0 and per_minute > 0:
            projected = (frame.at + timedelta(minutes=remaining / per_minute)).astimezone(frame.zone).isoformat()
        return SalesSnapshot(
            event_id=event.event_id,
            at=frame.local_at,
            timezone=frame.zone.key,
            currency=event.currency,
            capacity=event.capacity,
            tickets=tickets,
            sales=sales,
            gross=gross,
            sell_through=round(tickets / event.capacity, 6) if event.capacity else 0.0,
            by_tier=[_tier(name, t, g, event.tiers.get(name)) for name, (t, g) in tiers.items()],
            by_channel=[Breakdown(name, t, g) for name, (t, g) in sorted(channels.items())],
            velocity=_per_window(velocity),
            series=series,
            bucket_minutes=frame.bucket_minutes,
            projected_sell_out_at=projected,
            sold_out_at=sold_out,
            milestones=milestones,
        )

    def attendance(self, event: EventInfo, frame: Frame) -> AttendanceSnapshot:
        client = self.client()
        parameters = frame.parameters(event.event_id)
        gates: dict[str, list[int]] = {}
        entries = exits = 0
        rate = [0, 0, 0, 0]
        for gate, direction, count, _, *recent in _rows(client, queries.SCAN_TOTALS, parameters):
            counts = gates.setdefault(str(gate), [0, 0])
            if str(direction) == "exit":
                counts[1] += int(count)
                exits += int(count)
            else:
                counts[0] += int(count)
                entries += int(count)
                rate = [r + int(n) for r, n in zip(rate, recent, strict=True)]
        attendees = int(_rows(client, queries.SCAN_ATTENDEES, parameters)[0][0] or 0)
        sold = int(_rows(client, queries.TICKETS_SOLD, parameters)[0][0] or 0)
        inside = entries - exits
        share = inside / event.capacity if event.capacity else 0.0
        alert = "full" if share >= 1 else "warning" if share >= WARNING_SHARE else "normal"
        series = _series(client, frame, parameters, queries.SCAN_SERIES, "scanned_at")
        return AttendanceSnapshot(
            event_id=event.event_id,
            at=frame.local_at,
            timezone=frame.zone.key,
            capacity=event.capacity,
            tickets_sold=sold,
            entries=entries,
            exits=exits,
            inside=inside,
            attendees=attendees,
            no_shows=max(0, sold - attendees),
            share_of_capacity=round(share, 6),
            alert=alert,
            entry_rate=_per_window(rate),
            series=series,
            bucket_minutes=frame.bucket_minutes,
            by_gate=[Gate(name, e, x) for name, (e, x) in sorted(gates.items())],
        )

    def revenue(self, event: EventInfo, frame: Frame) -> RevenueSnapshot:
        client = self.client()
        parameters = frame.parameters(event.event_id)
        rows = _rows(client, queries.REVENUE_TOTALS, parameters)
        categories = [CategoryTotal(str(c), Decimal(amount), int(lines)) for c, amount, lines, _ in rows]
        total = sum((c.amount for c in categories), Decimal(0))
        last_hour = sum((Decimal(recent) for *_, recent in rows), Decimal(0))
        refund = next((c for c in categories if c.category == "refund"), None)
        ends_at = event.starts_at + timedelta(hours=EVENT_HOURS)
        hours_left = Decimal(max(0.0, (ends_at - frame.at).total_seconds()) / 3600)
        series = _series(client, frame, parameters, queries.REVENUE_SERIES, "recorded_at")
        return RevenueSnapshot(
            event_id=event.event_id,
            at=frame.local_at,
            timezone=frame.zone.key,
            currency=event.currency,
            total=total,
            refunds=refund.amount if refund else Decimal("0.00"),
            refund_lines=refund.lines if refund else 0,
            by_category=sorted(categories, key=lambda c: c.category),
            last_hour=last_hour,
            series=series,
            bucket_minutes=frame.bucket_minutes,
            ends_at=ends_at.astimezone(frame.zone).isoformat(),
            projected_total=(total + last_hour * hours_left).quantize(Decimal("0.01")),
        )

    def social(self, event: EventInfo, frame: Frame) -> SocialSnapshot:
        client = self.client()
        parameters = frame.parameters(event.event_id)
        rows = _rows(client, queries.SOCIAL_TOTALS, parameters)
        platforms: dict[str, int] = {}
        kinds: dict[str, int] = {}
        posts = reach = engagement = scored = recent = before = 0
        sentiment_sum = 0.0
        for platform, kind, count, reach_, engagement_, sentiment_, scored_, recent_, before_ in rows:
            platforms[str(platform)] = platforms.get(str(platform), 0) + int(count)
            kinds[str(kind)] = kinds.get(str(kind), 0) + int(count)
            posts += int(count)
            reach += int(reach_)
            engagement += int(engagement_)
            sentiment_sum += float(sentiment_)
            scored += int(scored_)
            recent += int(recent_)
            before += int(before_)
        baseline = before / 96  # quarter hours in 24 hours
        score = recent / max(baseline, 1.0)
        series = _series(client, frame, parameters, queries.SOCIAL_SERIES, "posted_at")
        return SocialSnapshot(
            event_id=event.event_id,
            at=frame.local_at,
            timezone=frame.zone.key,
            posts=posts,
            reach=reach,
            engagement=engagement,
            sentiment=round(sentiment_sum / scored, 4) if scored else None,
            by_platform=[Count(n, c) for n, c in sorted(platforms.items())],
            by_kind=[Count(n, c) for n, c in sorted(kinds.items())],
            series=series,
            bucket_minutes=frame.bucket_minutes,
            last_15_minutes=recent,
            baseline_15_minutes=round(baseline, 4),
            viral_score=round(score, 4),
            trending=score >= TRENDING_SCORE and recent >= TRENDING_POSTS,
        )


def _rows(client: Client, sql: str, parameters: dict[str, Any]) -> Sequence[Sequence[Any]]:
    rows: Sequence[Sequence[Any]] = client.query(sql, parameters=parameters, settings=LIVE_SETTINGS).result_rows
    return rows


def _series(client: Client, frame: Frame, parameters: dict[str, Any], template: str, column: str) -> list[Bucket]:
    """A view's series: its query with the frame's bucket, each bucket's start printed in the frame's zone."""
    sql = queries.series(template, column, frame.bucket_minutes)
    return [Bucket(frame.iso(at), Decimal(value)) for at, value in _rows(client, sql, parameters)]


def _per_window(counts: list[int]) -> dict[str, int]:
    """Counts over the last 1, 5, 15 and 60 minutes, keyed "1m" .. "60m"."""
    return {f"{minutes}m": count for minutes, count in zip(VELOCITY_MINUTES, counts, strict=True)}


def _tier(name: str, tickets: int, gross: Decimal, capacity: int | None) -> Breakdown:
    """A tier's figures; a tier the catalog no longer lists (renamed since) has no capacity."""
    return Breakdown(name, tickets, gross, capacity, round(tickets / capacity, 6) if capacity else None)
