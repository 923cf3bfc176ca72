"""What ingest must know of the catalog: which events and venues exist, whose events they are, their tiers
and the currency their money is in.

Known events are cached per worker for a short time, and an event in use is read again in the background
before its entry expires (api/refresh_ahead.py); unknown ids are always asked for (an event may have just
arrived through another worker), and a sale whose tier the cache does not know (or a sale or revenue line in
another currency) re-reads its event once before it is rejected (the event may have just changed), unless it was
read in the last second and its currency is fixed. Requests that wait for the same read share it: one query reads
every id they are waiting for (after a restart, a hundred events in use are one query, not a hundred).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from clickhouse_connect.driver.client import Client

from api.refresh_ahead import RefreshAhead

CACHE_SECONDS = 30.0
REFRESH_AFTER_SECONDS = 20.0  # an event in use is read again in the background once its entry is this old
# A record the cached event refuses (a tier or currency it lacks) has its event read again, at most this often: a
# feed sending every sale in the wrong currency made each one a query, one at a time under `_reading`, which held
# up every worker thread (the whole API) behind them.
FRESH_SECONDS = 1.0

_EVENTS_SQL = (
    "SELECT event_id, argMax(organizer_id, updated_at), argMax(tiers.name, updated_at), argMax(currency, updated_at) "
    "FROM events WHERE event_id IN {ids:Array(String)} GROUP BY event_id"
)
# The currencies these events' money is stored in (an event's facts share one: its own, or its first facts').
_FACT_CURRENCIES_SQL = (
    "SELECT event_id, groupUniqArray(currency) FROM ("
    "SELECT event_id, currency FROM sales WHERE event_id IN {ids:Array(String)} "
    "UNION ALL SELECT event_id, currency FROM revenue WHERE event_id IN {ids:Array(String)}) GROUP BY event_id"
)
_VENUES_SQL = "SELECT DISTINCT venue_id FROM venues WHERE venue_id IN {ids:Array(String)}"


@dataclass(frozen=True, slots=True)
class EventInfo:
    organizer_id: str
    tiers: frozenset[str]
    # The currencies its sales and revenue may be in: the event's own, else those of its stored facts (one,
    # or several stored before this was checked); none yet means the next fact's currency fixes it.
    currencies: frozenset[str]
    own_currency: str = ""  # as the event names it ("": it names none)


def fact_currencies(client: Client, event_ids: Sequence[str]) -> dict[str, frozenset[str]]:
    """The currencies of these events' stored sales and revenue lines (events with none are left out; no query
    for no events)."""
    if not event_ids:
        return {}
    rows = client.query(_FACT_CURRENCIES_SQL, parameters={"ids": list(event_ids)}).result_rows
    return {str(event_id): frozenset(str(c) for c in currencies) for event_id, currencies in rows}


@dataclass
class Catalog:
    client: Callable[[], Client]
    _events: dict[str, tuple[float, EventInfo]] = field(default_factory=dict)
    _venues: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _reading: threading.Lock = field(default_factory=threading.Lock)
    _wanted: set[str] = field(default_factory=set)  # ids that requests waiting for `_reading` need read
    _refresh: RefreshAhead[str] = field(init=False)

    def __post_init__(self) -> None:
        self._refresh = RefreshAhead(self._read_again, "catalog-refresh")

    def events(self, event_ids: Iterable[str], *, fresh: bool = False) -> dict[str, EventInfo]:
        """The known events among `event_ids` (blocking). `fresh`: read again unless read in the last
        FRESH_SECONDS."""
        wanted = set(event_ids)
        found = self._cached(wanted, fresh=fresh)
        if len(found) == len(wanted):
            return found
        with self._lock:
            self._wanted.update(wanted - found.keys())
        # When entries expire every request in flight for those events gets here at once: one reads them all.
        with self._reading:
            found.update(self._cached(wanted - found.keys(), fresh=fresh))
            missing = wanted - found.keys()
            if missing:
                with self._lock:
                    batch, self._wanted = sorted(self._wanted | missing), set()
                read = self._read(batch)
                found.update((event_id, read[event_id]) for event_id in missing if event_id in read)
        return found

    def _cached(self, event_ids: Iterable[str], *, fresh: bool = False) -> dict[str, EventInfo]:
        """The unexpired cache entries among `event_ids` (`fresh`: read in the last FRESH_SECONDS, of an event whose
        currency is fixed: facts stored since, by any worker, may have fixed it); those due for a refresh are read
        again meanwhile."""
        max_age = FRESH_SECONDS if fresh else CACHE_SECONDS
        now = time.monotonic()
        found: dict[str, EventInfo] = {}
        due: list[str] = []
        with self._lock:
            for event_id in event_ids:
                hit = self._events.get(event_id)
                if hit is not None and now - hit[0] < max_age and (hit[1].currencies or not fresh):
                    found[event_id] = hit[1]
                    if now - hit[0] >= REFRESH_AFTER_SECONDS:
                        due.append(event_id)
        if due:
            self._refresh.request(due)
        return found

    def _read_again(self, event_ids: Sequence[str]) -> None:
        self.events(event_ids, fresh=True)

    def _read(self, event_ids: list[str]) -> dict[str, EventInfo]:
        read_at = time.monotonic()  # before the read: an entry is never older than its stamp says
        client = self.client()
        rows = client.query(_EVENTS_SQL, parameters={"ids": event_ids}).result_rows
        unnamed = [str(event_id) for event_id, *_, currency in rows if not currency]
        stored = fact_currencies(client, unnamed)
        read: dict[str, EventInfo] = {}
        with self._lock:
            for event_id, organizer_id, tiers, currency in rows:
                currencies = frozenset([str(currency)]) if currency else stored.get(str(event_id), frozenset())
                info = EventInfo(str(organizer_id), frozenset(str(t) for t in tiers), currencies, str(currency))
                read[str(event_id)] = info
                self._events[str(event_id)] = (read_at, info)
        return read

    def cached_events(self, event_ids: Iterable[str]) -> dict[str, EventInfo] | None:
        """These events from the cache alone, or None when any of them is not there (then use `events`)."""
        wanted = set(event_ids)
        found = self._cached(wanted)
        return found if len(found) == len(wanted) else None

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
