"""Updates after committed ingest batches: an event's first commit after a quiet moment is pushed at once;
while it stays busy, its commits are gathered so that it gets one update per `interval_seconds` (a few a second,
not one per batch). Each update is the event's snapshot, sent to its room, with the milestones, alerts and
trends it crossed (each announced once).

Each worker pushes what it committed itself; python-socketio's Redis manager (with TICKETTOKEN_REDIS_URL)
carries it to subscribers on every worker, so no update goes out twice."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import msgspec

from api.ingest.writer import CommittedBatch
from api.push.hub import PushHub, room
from api.push.once import Once
from api.push.schemas import CapacityAlert, RevenueMilestone, SalesMilestone, ViralTrend
from api.realtime.schemas import AttendanceSnapshot, RevenueSnapshot, SalesSnapshot, SocialSnapshot
from api.realtime.services import RealtimeService, UnknownEvent, frame
from tickettoken.settings import PushSettings

log = logging.getLogger("tickettoken.push")
UPDATES = {"sale": "sale-update", "attendance": "attendance-update", "revenue": "revenue-update",
           "social": "social-update"}  # fmt: skip
TREND_SECONDS = 15 * 60  # a viral trend is announced at most once per quarter hour


class Pusher:
    def __init__(self, hub: PushHub, realtime: RealtimeService, once: Once, settings: PushSettings) -> None:
        self.hub, self.realtime, self.once, self.settings = hub, realtime, once, settings
        self._touched: set[tuple[str, str]] = set()
        self._last: dict[tuple[str, str], float] = {}  # when each (stream, event) was last pushed (loop time)
        self._wake = asyncio.Event()

    def committed(self, batch: CommittedBatch) -> None:
        """Note a committed batch (called by the ingest writer's commit hook, on the event loop)."""
        if batch.stream in UPDATES:
            self._touched.update((batch.stream, event_id) for event_id in batch.counts)
            self._wake.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            now = loop.time()
            interval = self.settings.interval_seconds
            # A throttle, not a debounce: an event quiet for `interval` is pushed at once; a busy one at most once
            # per `interval`, its later batches gathered into the next update.
            due = {item for item in self._touched if now - self._last.get(item, -interval) >= interval}
            self._touched -= due
            if self._touched:
                wait = min(self._last[item] + interval for item in self._touched) - now
                loop.call_later(max(0.0, wait), self._wake.set)
            if len(self._last) > 100_000:
                self._last.clear()
            # Most committed events have no subscriber: they are left out before any thread hop (a hop per
            # event and commit was a sixth of the API's interpreter time while it ingested Arrow bodies).
            watched = await self.hub.watched({event_id for _, event_id in due}) if due else set()
            for stream, event_id in sorted(due):
                self._last[(stream, event_id)] = now
                if event_id not in watched:
                    continue
                try:
                    messages = await asyncio.to_thread(self._messages, stream, event_id)
                except UnknownEvent:
                    continue
                except Exception as error:  # noqa: BLE001 - one event's failure must not stop the others'
                    log.warning("push: no %s update for %s: %s", stream, event_id, error)
                    continue
                for name, payload in messages:
                    await self.hub.sio.emit(name, payload, room=room(event_id))

    def settle(self, event_id: str) -> None:
        """Take the milestones and alerts the event has reached as announced, without sending them (called before
        the first of this worker's sockets subscribes to it). They are news when a commit crosses them while someone
        listens; one reached while no one did went out to the next subscriber at its first update, as if it had just
        happened (a dashboard opened on an event sold at 80% heard 25, 50 and 75% at once). The live views list them
        with when. Blocking (may read the event's rows)."""
        try:
            event = self.realtime.event_info(event_id)
        except UnknownEvent:
            return
        now = frame(event, at=None, tz=None, window=60, bucket=1)
        self._sales_milestones(self.realtime.sales(event, now))
        self._revenue_milestones(self.realtime.revenue(event, now))
        self._capacity_alerts(self.realtime.attendance(event, now))

    def _messages(self, stream: str, event_id: str) -> list[tuple[str, Any]]:
        """What to send about one event after a commit of `stream`. Blocking (queries the warehouse)."""
        event = self.realtime.event_info(event_id)
        now = frame(event, at=None, tz=None, window=60, bucket=1)
        if stream == "sale":
            sales = self.realtime.sales(event, now)
            return [(UPDATES[stream], msgspec.to_builtins(sales)), *self._sales_milestones(sales)]
        if stream == "attendance":
            attendance = self.realtime.attendance(event, now)
            return [(UPDATES[stream], msgspec.to_builtins(attendance)), *self._capacity_alerts(attendance)]
        if stream == "revenue":
            revenue = self.realtime.revenue(event, now)
            return [(UPDATES[stream], msgspec.to_builtins(revenue)), *self._revenue_milestones(revenue)]
        social = self.realtime.social(event, now)
        return [(UPDATES[stream], msgspec.to_builtins(social)), *self._trend(social)]

    # What the views list as reached (with the same settings) is what is announced, each once: the two cannot part.
    # Revenue and inside fall as well as rise: one reached and left within a push interval is announced too.

    def _sales_milestones(self, sales: SalesSnapshot) -> list[tuple[str, Any]]:
        shares = self.settings.milestone_shares  # the view lists selling out even where these leave it out
        announced = []
        for m in sales.milestones:
            threshold = m.share if m.kind == "share" else float(m.tickets)
            if m.kind == "share" and threshold not in shares:
                continue
            if self.once.first(f"sales:{sales.event_id}:{m.kind}:{threshold:g}"):
                payload = SalesMilestone(sales.event_id, m.kind, threshold, sales.tickets, sales.capacity, sales.at)
                announced.append(("sales-milestone", _out(payload)))
        return announced

    def _capacity_alerts(self, seen: AttendanceSnapshot) -> list[tuple[str, Any]]:
        return [
            ("capacity-alert", _out(CapacityAlert(seen.event_id, a.level, seen.inside, seen.capacity,
                                                  seen.share_of_capacity, seen.at)))
            for a in seen.alerts
            if self.once.first(f"capacity:{seen.event_id}:{a.level}")
        ]  # fmt: skip

    def _revenue_milestones(self, revenue: RevenueSnapshot) -> list[tuple[str, Any]]:
        return [
            (
                "revenue-milestone",
                _out(RevenueMilestone(revenue.event_id, m.threshold, revenue.total, revenue.currency, revenue.at)),
            )
            for m in revenue.milestones
            if self.once.first(f"revenue:{revenue.event_id}:{m.threshold}")
        ]

    def _trend(self, social: SocialSnapshot) -> list[tuple[str, Any]]:
        if not social.trending or not self.once.first(f"trend:{social.event_id}", for_seconds=TREND_SECONDS):
            return []
        trend = ViralTrend(social.event_id, social.viral_score, social.last_15_minutes, social.baseline_15_minutes,
                           social.at)  # fmt: skip
        return [("viral-trend", _out(trend))]


def _out(payload: msgspec.Struct) -> Any:
    return msgspec.to_builtins(payload)
