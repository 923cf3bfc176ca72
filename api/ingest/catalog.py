"""What ingest must know of the catalog: which events and venues exist, whose events they are, their tiers.

Known events are cached per worker for a short time; unknown ids are always asked for (an event may have
just arrived through another worker), and a sale whose tier the cache does not know re-reads its event
once before it is rejected (the tiers may have just changed).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from clickhouse_connect.driver.client import Client

CACHE_SECONDS = 30.0

_EVENTS_SQL = (
    "SELECT event_id, argMax(organizer_id, updated_at), argMax(tiers.name, updated_at) "
    "FROM events WHERE event_id IN {ids:Array(String)} GROUP BY event_id"
)
_VENUES_SQL = "SELECT DISTINCT venue_id FROM venues WHERE venue_id IN {ids:Array(String)}"


@dataclass(frozen=True, slots=True)
class EventInfo:
    organizer_id: str
    tiers: frozenset[str]


@dataclass
class Catalog:
    client: Callable[[], Client]
    _events: dict[str, tuple[float, EventInfo]] = field(default_factory=dict)
    _venues: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _reading: threading.Lock = field(default_factory=threading.Lock)

    def events(self, event_ids: Iterable[str], *, fresh: bool = False) -> dict[str, EventInfo]:
        """The known events among `event_ids` (blocking)."""
        wanted = set(event_ids)
        now = time.monotonic()
        found: dict[str, EventInfo] = {}
        with self._lock:
            for event_id in wanted:
                hit = self._events.get(event_id)
                if hit is not None and not fresh and now - hit[0] < CACHE_SECONDS:
                    found[event_id] = hit[1]
        if len(found) == len(wanted):
            return found
        # When entries expire every request in flight for those events gets here at once: one reads them.
        with self._reading:
            if not fresh:
                with self._lock:
                    for event_id in wanted - found.keys():
                        hit = self._events.get(event_id)
                        if hit is not None and now - hit[0] < CACHE_SECONDS:
                            found[event_id] = hit[1]
            missing = sorted(wanted - found.keys())
            if missing:
                rows = self.client().query(_EVENTS_SQL, parameters={"ids": missing}).result_rows
                read_at = time.monotonic()
                with self._lock:
                    for event_id, organizer_id, tiers in rows:
                        info = EventInfo(str(organizer_id), frozenset(str(t) for t in tiers))
                        self._events[str(event_id)] = (read_at, info)
                        found[str(event_id)] = info
        return found

    def cached_events(self, event_ids: Iterable[str]) -> dict[str, EventInfo] | None:
        """These events from the cache alone, or None when any of them is not there (then use `events`)."""
        now = time.monotonic()
        found: dict[str, EventInfo] = {}
        with self._lock:
            for event_id in event_ids:
                hit = self._events.get(event_id)
                if hit is None or now - hit[0] >= CACHE_SECONDS:
                    return None
                found[event_id] = hit[1]
        return found

    def venues(self, venue_ids: Iterable[str]) -> set[str]:
        """The known venues among `venue_ids` (blocking)."""
        wanted = set(venue_ids)
        now = time.monotonic()
        with self._lock:
            known = {v for v in wanted if now - self._venues.get(v, -CACHE_SECONDS) < CACHE_SECONDS}
        missing = sorted(wanted - known)
        if missing:
            rows = self.client().query(_VENUES_SQL, parameters={"ids": missing}).result_rows
            with self._lock:
                for (venue_id,) in rows:
                    self._venues[str(venue_id)] = now
                    known.add(str(venue_id))
        return known

    def forget_events(self, event_ids: Iterable[str]) -> None:
        """After this worker wrote new versions of these events."""
        with self._lock:
            for event_id in event_ids:
                self._events.pop(event_id, None)
