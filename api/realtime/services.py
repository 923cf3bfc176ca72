"""The live aggregates of one event, computed from its rows (`tallies.py` keeps them). No HTTP here."""

from __future__ import annotations

import math
import threading
import time
import zoneinfo
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cache, lru_cache

import numpy as np
from clickhouse_connect.driver.client import Client

from api.auth.keys import ApiKey
from api.ingest.catalog import fact_currencies
from api.ingest.schemas import ID_MAX_LENGTH
from api.realtime import queries
from api.realtime.buckets import MINUTE_MS, bucket_starts, window_starts
from api.realtime.rows import READ_SETTINGS, Ints, Numbers, Rows, Spec, empty
from api.realtime.schemas import (
    AlertReached,
    AttendanceSnapshot,
    Breakdown,
    Bucket,
    CategoryTotal,
    Count,
    Gate,
    Milestone,
    RevenueReached,
    RevenueSnapshot,
    SalesSnapshot,
    SocialSnapshot,
)
from api.realtime.tallies import Tallies
from api.refresh_ahead import RefreshAhead

# The milestones the views list (with when) and the push announces: TICKETTOKEN_MILESTONE_SHARES, _COUNTS and
# TICKETTOKEN_REVENUE_MILESTONES, these by default.
MILESTONE_SHARES = (0.25, 0.5, 0.75, 0.9, 1.0)
MILESTONE_COUNTS = (100.0, 500.0, 1000.0, 5000.0, 10000.0, 50000.0)
REVENUE_MILESTONES = (1000.0, 10000.0, 100000.0, 1000000.0)
EVENT_SECONDS = 5.0  # how long a worker trusts what it read of an event (its organizer, capacity, zone)
EVENT_GATHER_SECONDS = 1.0  # events coming due within this long are re-read in one query (of the 5 s of slack)
EVENT_HOURS = 4  # events carry no end time: revenue is projected to four hours after the start
TRENDING_SCORE = 3.0  # trending: three times the event's own baseline rate...
TRENDING_POSTS = 10  # ...and at least this many posts in the last 15 minutes
QUARTER_MS = 15 * MINUTE_MS
MIN_BASELINE_QUARTERS = 4.0  # a baseline is a mean over an hour at least: a few early posts are not a rate
WARNING_SHARE = 0.9  # the capacity alert: "warning" from 90% inside, "full" from 100%
ALERT_LEVELS = (("warning", WARNING_SHARE), ("full", 1.0))
VELOCITY_MINUTES = (1, 5, 15, 60)
CENT = Decimal("0.01")
# The streams whose rows each view is computed from (`rows_in_memory`; the attendance view counts sales too).
VIEW_STREAMS = {"sales": ("sale",), "attendance": ("attendance", "sale"), "revenue": ("revenue",),
                "social": ("social",)}  # fmt: skip


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

    @property
    def at_ms(self) -> int:
        return int(self.at.timestamp() * 1000)


# The moments a request may ask about: the warehouse's times (DateTime64) hold 1900-2299, and printing a moment
# near the ends of Python's datetime range in another zone overflows.
EARLIEST_AT = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_AT = datetime(2200, 1, 1, tzinfo=UTC)


@cache
def _zone(name: str) -> zoneinfo.ZoneInfo:
    """The IANA zone `name` (only valid names are kept: there are a few hundred). ZoneInfo itself keeps just the
    last 8 zones nothing refers to, and a worker answers about events in many more: reading a zone's file
    again was a tenth of a cached live answer's time (py-spy)."""
    return zoneinfo.ZoneInfo(name)


@cache
def _zone_names() -> dict[str, str]:
    """Every IANA zone name by its lower-case form: `tz=europe/berlin` is meant as Europe/Berlin."""
    return {name.lower(): name for name in zoneinfo.available_timezones()}


def frame(event: EventInfo, *, at: datetime | None, tz: str | None, window: int, bucket: int) -> Frame:
    """The request's frame, each parameter checked (BadParameter names the one that is wrong)."""
    name = tz or event.timezone or "UTC"
    try:
        zone = _zone(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as error:
        if (canonical := _zone_names().get(name.lower())) is None:
            raise BadParameter("tz", f"{name!r} is not an IANA time zone (such as Europe/Berlin)") from error
        zone = _zone(canonical)
    if at is not None and at.tzinfo is None:
        raise BadParameter("at", "must carry a time zone (e.g. 2026-05-01T20:00:00+02:00)")
    if at is not None and not EARLIEST_AT <= at < LATEST_AT:
        raise BadParameter("at", f"must be from {EARLIEST_AT:%Y-%m-%d} to before {LATEST_AT:%Y-%m-%d} (UTC)")
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
    tallies: Tallies
    # Shares of capacity the sales view lists as milestones: those the push announces (TICKETTOKEN_MILESTONE_SHARES),
    # and selling out always (it gives `sold_out_at`); sorted and made whole once, here.
    milestone_shares: tuple[float, ...] = MILESTONE_SHARES
    milestone_counts: tuple[float, ...] = MILESTONE_COUNTS
    revenue_milestones: tuple[float, ...] = REVENUE_MILESTONES
    _events: dict[str, tuple[float, EventInfo]] = field(default_factory=dict)  # (when read, monotonic; event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _refresh: RefreshAhead[str] = field(init=False)
    _revenue_thresholds: list[Decimal] = field(init=False)  # the revenue milestones, as amounts and in cents
    _revenue_cents: list[int] = field(init=False)

    def __post_init__(self) -> None:
        self.milestone_shares = tuple(sorted({*self.milestone_shares, 1.0}))
        self._revenue_thresholds = [Decimal(t).quantize(CENT) for t in self.revenue_milestones]
        self._revenue_cents = [int(t.scaleb(2)) for t in self._revenue_thresholds]
        self._refresh = RefreshAhead(self._read_events, "live-event-refresh", gather_seconds=EVENT_GATHER_SECONDS)

    def rows_in_memory(self, view: str, event_id: str) -> int | None:
        """How many rows the view of the event would be computed from, when all of them are in memory (so computing
        it reads nothing); None otherwise. Does not block."""
        kept = [self.tallies.kept(stream, event_id) for stream in VIEW_STREAMS[view]]
        return None if any(count is None for count in kept) else sum(count or 0 for count in kept)

    def event(self, event_id: str, key: ApiKey) -> EventInfo:
        """The event, when the key may see it. Blocking."""
        event = self.event_info(event_id)
        if not key.allows_organizer(event.organizer_id):
            raise ForeignEvent(f"event {event_id!r} belongs to another organizer")
        return event

    def forget_events(self, event_ids: Iterable[str]) -> None:
        """After this worker committed new versions of these events: read them again when next asked about (a
        new capacity or tiers showed only after the next re-read, seconds later)."""
        with self._lock:
            for event_id in event_ids:
                self._events.pop(event_id, None)

    def cached_event(self, event_id: str, key: ApiKey) -> EventInfo | None:
        """The event from this worker's memory, when the key may see it and it is there (never queries)."""
        event = self.kept_event(event_id)
        return event if event is not None and key.allows_organizer(event.organizer_id) else None

    def event_info(self, event_id: str) -> EventInfo:
        """The event, whoever asks: from this worker's memory when it is there, else read now. Blocking."""
        event = self.kept_event(event_id)
        if event is not None:
            return event
        if len(event_id) > ID_MAX_LENGTH:  # longer than any id ingest takes: neither looked up nor echoed back
            raise UnknownEvent(f"no event: event ids are 1 to {ID_MAX_LENGTH} characters")
        found = self._read_events((event_id,))
        if event_id not in found:
            raise UnknownEvent(f"no event {event_id!r}")
        return found[event_id]

    def kept_event(self, event_id: str) -> EventInfo | None:
        """The event as this worker read it, whoever asks (never a query), if it did in the last 2 * EVENT_SECONDS.
        Past EVENT_SECONDS it is still used while it is read again in the background, with the other events due
        then in one query (api/refresh_ahead.py), so busy events never wait for their re-read (nor do pushes: a
        foreground re-read held up one push in ten by a query when sales came every half second)."""
        now = time.monotonic()
        with self._lock:
            hit = self._events.get(event_id)
        if hit is None or now >= hit[0] + 2 * EVENT_SECONDS:
            return None
        if now >= hit[0] + EVENT_SECONDS:
            self._refresh.request((event_id,))
        return hit[1]

    def _read_events(self, event_ids: Sequence[str]) -> dict[str, EventInfo]:
        """Read these events and keep them (an unknown id is left out). Blocking."""
        read_at = time.monotonic()  # before the read: an entry is never older than its stamp says
        client = self.client()
        rows = client.query(queries.EVENTS, parameters={"event_ids": list(event_ids)}).result_rows
        unnamed = [str(row[0]) for row in rows if not row[3]]
        # An event that names no currency is in its facts' (ingest keeps them to one: docs/ingest.md).
        stored = {e: c for e, c in fact_currencies(client, unnamed).items() if len(c) == 1}
        found: dict[str, EventInfo] = {}
        for event_id, organizer, capacity, currency, tier_names, tier_capacities, timezone, starts_ms in rows:
            tiers = {str(n): int(c) for n, c in zip(tier_names, tier_capacities, strict=True)}
            starts_at = datetime.fromtimestamp(int(starts_ms) / 1000, UTC)
            shown = str(currency) or next(iter(stored.get(str(event_id), [""])))
            found[str(event_id)] = EventInfo(
                str(event_id), str(organizer), int(capacity), shown, tiers, str(timezone or ""), starts_at
            )
        with self._lock:
            if len(self._events) + len(found) > 10_000:
                self._events.clear()
            self._events.update((event_id, (read_at, event)) for event_id, event in found.items())
        return found

    def sales(self, event: EventInfo, frame: Frame) -> SalesSnapshot:
        rows = self.tallies.rows("sale", event.event_id).until(frame.at_ms)
        quantity, cents = rows.numbers["quantity"], rows.numbers["cents"]
        tiers = {name: [0, 0, 0] for name in event.tiers} | _by_label(rows, "tier", "quantity", "cents")
        channels = _by_label(rows, "channel", "quantity", "cents")
        velocity = [int(quantity[rows.after(frame.at_ms - m * MINUTE_MS)].sum()) for m in VELOCITY_MINUTES]
        tickets = int(quantity.sum())
        milestones = self._sales_milestones(rows, quantity, event.capacity, frame)
        sold_out = next((m.reached_at for m in milestones if m.kind == "share" and m.share == 1.0), None)
        per_minute = velocity[3] / 60
        remaining = event.capacity - tickets
        projected = None
        if remaining > 0 and per_minute > 0:
            when = frame.at + timedelta(minutes=remaining / per_minute)
            # A sell-out after the doors open is none: the dashboard would show a date past the show.
            projected = when.astimezone(frame.zone).isoformat() if when <= event.starts_at else None
        return SalesSnapshot(
            event_id=event.event_id,
            at=frame.local_at,
            timezone=frame.zone.key,
            currency=event.currency,
            capacity=event.capacity,
            tickets=tickets,
            sales=len(rows),
            gross=_money(int(cents.sum())),
            sell_through=round(tickets / event.capacity, 6) if event.capacity else 0.0,
            by_tier=[_tier(name, t, _money(c), event.tiers.get(name)) for name, (_, t, c) in tiers.items()],
            by_channel=[Breakdown(name, t, _money(c)) for name, (_, t, c) in sorted(channels.items())],
            velocity=_per_window(velocity),
            series=_series(rows, quantity, frame),
            bucket_minutes=frame.bucket_minutes,
            projected_sell_out_at=projected,
            sold_out_at=sold_out,
            milestones=milestones,
        )

    def _sales_milestones(self, rows: Rows, quantity: Numbers, capacity: int, frame: Frame) -> list[Milestone]:
        """The milestones reached by `at`, in the order reached (tickets only grow: a sale's quantity is 1 or more)."""
        marks = [("share", share, max(1, math.ceil(share * capacity))) for share in self.milestone_shares]
        marks += [("count", round(count / capacity, 6), math.ceil(count))
                  for count in self.milestone_counts if count <= capacity]  # fmt: skip
        marks.sort(key=lambda mark: (mark[2], mark[0] == "count"))
        reached = np.searchsorted(np.cumsum(quantity), [tickets for *_, tickets in marks], side="left")
        return [
            Milestone(share, tickets, frame.iso(int(rows.times[row]) / 1000), kind)
            for (kind, share, tickets), row in zip(marks, reached, strict=True)
            if row < len(rows)
        ]

    def attendance(self, event: EventInfo, frame: Frame) -> AttendanceSnapshot:
        scans = self.tallies.rows("attendance", event.event_id).until(frame.at_ms)
        entry = scans.numbers["entry"]
        gates = {
            gate: (entered, count - entered) for gate, (count, entered) in _by_label(scans, "gate", "entry").items()
        }
        entries = int(entry.sum())
        exits = len(scans) - entries
        entered = scans.take(np.flatnonzero(entry))
        rate = [entered.count_after(frame.at_ms - m * MINUTE_MS) for m in VELOCITY_MINUTES]
        inside_after, attendees = _inside_and_attendees(scans)
        inside = int(inside_after[-1]) if len(inside_after) else 0
        peaks = np.maximum.accumulate(inside_after)
        levels = [(level, math.ceil(share * event.capacity)) for level, share in ALERT_LEVELS if event.capacity]
        alerts = [
            AlertReached(level, needed, frame.iso(int(scans.times[row]) / 1000))
            for (level, needed), row in zip(levels, np.searchsorted(peaks, [n for _, n in levels]), strict=True)
            if row < len(scans)
        ]
        sold = int(self.tallies.rows("sale", event.event_id).until(frame.at_ms).numbers["quantity"].sum())
        share = inside / event.capacity if event.capacity else 0.0
        alert = next((level for level, needed in reversed(levels) if inside >= needed), "normal")  # the highest now
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
            alerts=alerts,
            entry_rate=_per_window(rate),
            series=_series(entered, entered.numbers["entry"], frame),
            bucket_minutes=frame.bucket_minutes,
            by_gate=[Gate(name, e, x) for name, (e, x) in sorted(gates.items())],
        )

    def revenue(self, event: EventInfo, frame: Frame) -> RevenueSnapshot:
        rows = self.tallies.rows("revenue", event.event_id).until(frame.at_ms)
        cents = rows.numbers["cents"]
        lines = _by_label(rows, "category", "cents")
        categories = [CategoryTotal(name, _money(c), n) for name, (n, c) in sorted(lines.items())]
        total = _money(int(cents.sum()))
        last_hour = _money(int(cents[rows.after(frame.at_ms - 60 * MINUTE_MS)].sum()))
        refund = next((c for c in categories if c.category == "refund"), None)
        ends_at = event.starts_at + timedelta(hours=EVENT_HOURS)
        # The net total falls with refunds: a milestone is reached when the total first gets there.
        peaks = np.maximum.accumulate(np.cumsum(cents))
        reached = np.searchsorted(peaks, self._revenue_cents)
        milestones = [
            RevenueReached(threshold, frame.iso(int(rows.times[row]) / 1000))
            for threshold, row in zip(self._revenue_thresholds, reached, strict=True)
            if row < len(rows)
        ]
        hours_left = Decimal(max(0.0, (ends_at - frame.at).total_seconds()) / 3600)
        return RevenueSnapshot(
            event_id=event.event_id,
            at=frame.local_at,
            timezone=frame.zone.key,
            currency=event.currency,
            total=total,
            refunds=refund.amount if refund else Decimal("0.00"),
            refund_lines=refund.lines if refund else 0,
            by_category=categories,
            last_hour=last_hour,
            series=_series(rows, cents, frame, money=True),
            bucket_minutes=frame.bucket_minutes,
            ends_at=ends_at.astimezone(frame.zone).isoformat(),
            projected_total=(total + last_hour * hours_left).quantize(CENT),
            milestones=milestones,
        )

    def social(self, event: EventInfo, frame: Frame) -> SocialSnapshot:
        rows = self.tallies.rows("social", event.event_id).until(frame.at_ms)
        ones = np.ones(len(rows), dtype=np.int64)
        starts, window, placed = _placed_in_buckets(rows, frame)
        sentiment = rows.numbers["sentiment"]
        scored = ~np.isnan(sentiment)
        quarter = frame.at_ms - QUARTER_MS
        history = quarter - 24 * 60 * MINUTE_MS
        recent = rows.count_after(quarter)
        baseline = (rows.count_after(history) - recent) / _quarters_of_history(rows, history, quarter)
        score = recent / max(baseline, 1.0)
        return SocialSnapshot(
            event_id=event.event_id,
            at=frame.local_at,
            timezone=frame.zone.key,
            posts=len(rows),
            reach=int(rows.numbers["reach"].sum()),
            engagement=int(rows.numbers["engagement"].sum()),
            sentiment=round(float(sentiment[scored].sum()) / int(scored.sum()), 4) if scored.any() else None,
            by_platform=_counts(rows, "platform", window, placed, len(starts)),
            by_kind=_counts(rows, "kind", window, placed, len(starts)),
            series=_bucket_sums(starts, placed, ones[window], frame),
            bucket_minutes=frame.bucket_minutes,
            last_15_minutes=recent,
            baseline_15_minutes=round(baseline, 4),
            viral_score=round(score, 4),
            trending=score >= TRENDING_SCORE and recent >= TRENDING_POSTS,
        )


def fetch_rows(client: Callable[[], Client]) -> Callable[[Spec, str], Rows]:
    """Reading an event's rows of one stream from the table (each record once: FINAL)."""

    def fetch(spec: Spec, event_id: str) -> Rows:
        table = client().query_arrow(spec.select, parameters={"event_id": event_id}, settings=READ_SETTINGS)
        return Rows.of(spec, table) if table.num_rows else empty(spec)

    return fetch


def _money(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)


def _by_label(rows: Rows, column: str, *names: str) -> dict[str, list[int]]:
    """Per label of a text column that has rows: the row count and the sums of the number columns `names`."""
    labels = rows.labels[column]
    counts, *sums = rows.label_sums(column, names)
    return {labels[i]: [int(counts[i]), *(int(s[i]) for s in sums)] for i in np.flatnonzero(counts)}


def _series(rows: Rows, values: Numbers, frame: Frame, *, money: bool = False) -> list[Bucket]:
    """Sums of `values` per bucket over the frame's window (up to `at`, which `rows` already ends at), every
    bucket of the window included, empty ones as 0: a chart drawn from only the buckets with rows joins
    the points on either side of a quiet spell, and the client cannot easily place the buckets a DST change
    moves (the buckets of rows are added too, should a zone's offset fall off the quarter hours)."""
    starts, window, placed = _placed_in_buckets(rows, frame)
    return _bucket_sums(starts, placed, values[window], frame, money=money)


def _placed_in_buckets(rows: Rows, frame: Frame) -> tuple[Ints, slice, Ints]:
    """The start of every bucket of the frame's window, the rows in the window, and each one's bucket (an index
    into the starts)."""
    start_ms = frame.at_ms - frame.window_minutes * MINUTE_MS
    window = rows.after(start_ms)
    of_rows = bucket_starts(rows.times[window], frame.zone, frame.bucket_minutes)
    starts = np.union1d(window_starts(start_ms, frame.at_ms, frame.zone, frame.bucket_minutes), of_rows)
    return starts, window, np.searchsorted(starts, of_rows)


def _bucket_sums(starts: Ints, placed: Ints, values: Numbers, frame: Frame, *, money: bool = False) -> list[Bucket]:
    sums = np.bincount(placed, weights=values, minlength=len(starts))
    return [
        Bucket(_bucket_at(int(start), frame.zone), _money(round(total)) if money else Decimal(round(total)))
        for start, total in zip(starts, sums.tolist(), strict=True)
    ]


def _counts(rows: Rows, column: str, window: slice, placed: Ints, buckets: int) -> list[Count]:
    """Posts per label of a text column, those with any, by name; each with its posts per bucket of the window."""
    labels, codes = rows.labels[column], rows.codes[column][window].astype(np.int64)
    grid = np.bincount(codes * buckets + placed, minlength=len(labels) * buckets).reshape(len(labels), buckets)
    posts = rows.label_sums(column, ())[0]
    named = sorted(np.flatnonzero(posts), key=labels.__getitem__)
    return [Count(labels[i], int(posts[i]), grid[i].tolist()) for i in named]


@lru_cache(maxsize=65_536)
def _bucket_at(start_ms: int, zone: zoneinfo.ZoneInfo) -> str:
    """A bucket's start as printed in the zone: the same few starts, printed for every answer, were most of a
    window's cost once the quiet buckets were listed too."""
    return datetime.fromtimestamp(start_ms / 1000, zone).isoformat()


def _inside_and_attendees(scans: Rows) -> tuple[Ints, int]:
    """Tickets inside after each scan (those whose latest scan is an entry), and tickets that entered at all.
    Inside is not entries minus exits: gates read a ticket twice, or miss its entry and see its exit, and that
    count drifts (above capacity, below zero) with each such scan. One sort of the tickets for both."""
    tickets = scans.numbers["ticket"]
    entry = scans.numbers["entry"].astype(np.int64)
    if len(tickets) == 0:
        return entry, 0
    order = np.argsort(tickets, kind="stable")  # stable: each ticket's scans stay in time order
    ordered = tickets[order]
    firsts = np.r_[True, ordered[1:] != ordered[:-1]]
    entered = entry[order]
    before = np.r_[0, entered[:-1]]  # each scan's ticket inside before it: its previous scan an entry
    before[firsts] = 0
    change = np.empty_like(entry)
    change[order] = entered - before
    attendees = int(np.logical_or.reduceat(entered.astype(bool), np.flatnonzero(firsts)).sum())
    return np.cumsum(change), attendees


def _quarters_of_history(rows: Rows, start_ms: int, end_ms: int) -> float:
    """Quarter hours the social baseline is a mean over: from the event's first post (24 hours back at most) to
    `end_ms`, and an hour at least. Over a fixed 24 hours, activity a few hours old was its own spike: ten posts
    every quarter hour for two hours made a baseline of 0.7 a quarter, so steady chatter "trended" for hours."""
    first = int(rows.times[0]) if len(rows) else end_ms
    return max((end_ms - max(first, start_ms)) / QUARTER_MS, MIN_BASELINE_QUARTERS)


def _per_window(counts: list[int]) -> dict[str, int]:
    """Counts over the last 1, 5, 15 and 60 minutes, keyed "1m" .. "60m"."""
    return {f"{minutes}m": count for minutes, count in zip(VELOCITY_MINUTES, counts, strict=True)}


def _tier(name: str, tickets: int, gross: Decimal, capacity: int | None) -> Breakdown:
    """A tier's figures; a tier the catalog no longer lists (renamed since) has no capacity."""
    return Breakdown(name, tickets, gross, capacity, round(tickets / capacity, 6) if capacity else None)
