"""The live views' cache: an answer (its JSON, sent as it is) is reused for at most a second (in Redis when
configured, so every worker shares it; in this worker's memory otherwise). Events (organizer, capacity, tiers,
zone) are kept per worker by the service (`RealtimeService.cached_event`): the organizer check runs on every
request, cached answer or not."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable

import msgspec
from redis import Redis
from redis.exceptions import RedisError

ANSWER_SECONDS = 1.0
# In memory, an answer asked for late in its life is recomputed in the background while it is still served: a
# busy answer never expires, so its requests never queue behind its recomputation. Late means its last fifth:
# each busy answer is computed about 1.25 times a second instead of twice (at half its life), which gave the
# reads ~7% more of the API (A/B inside one API process under the live benchmark's load, median of 12 two-second
# windows each: 100 against 108 µs per answer), and leaves 0.2 s for a refresh, which takes milliseconds.
REFRESH_AFTER_SECONDS = 0.8
MAX_ENTRIES = 10_000  # in memory: beyond this, the cache starts over (it only ever saves work)
FLIGHT_WAIT_SECONDS = 10.0


class _Flight:
    """One computation that other requests for the same answer wait for."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: bytes | None = None


class LiveCache:
    def __init__(self, redis: Redis | None, prefix: str = "tickettoken:live:") -> None:
        self._redis = redis
        self._prefix = prefix
        self._memory: dict[str, tuple[float, bytes]] = {}
        self._flights: dict[str, _Flight] = {}
        self._refreshing: set[str] = set()
        self._lock = threading.Lock()

    def answer(self, key: str, compute: Callable[[], msgspec.Struct]) -> bytes:
        """The cached answer (JSON) for `key` when it is under a second old, else `compute()`'s (then cached);
        of the requests that miss at once, one computes and the others wait for its answer. Blocking."""
        cached = self._get(key)
        if cached is not None:
            return cached
        with self._lock:
            flight = self._flights.get(key)
            leader = flight is None
            if flight is None:
                flight = self._flights[key] = _Flight()
        if not leader:
            if flight.done.wait(FLIGHT_WAIT_SECONDS) and flight.value is not None:
                return flight.value
            return msgspec.json.encode(compute())  # the leader failed or is stuck: answer on our own
        try:
            flight.value = msgspec.json.encode(compute())
            self._set(key, flight.value)
            return flight.value
        finally:
            flight.done.set()
            with self._lock:
                self._flights.pop(key, None)

    def peek(self, key: str) -> tuple[bytes, bool] | None:
        """The answer (JSON) from this worker's memory without blocking (None with Redis, or on a miss), and
        whether the caller should `refresh` it now (past REFRESH_AFTER_SECONDS; one caller is told so)."""
        if self._redis is not None:
            return None
        now = time.monotonic()
        with self._lock:
            hit = self._memory.get(key)
            if hit is None or now >= hit[0]:
                return None
            refresh = now >= hit[0] - ANSWER_SECONDS + REFRESH_AFTER_SECONDS and key not in self._refreshing
            if refresh:
                self._refreshing.add(key)
        return hit[1], refresh

    def refresh(self, key: str, compute: Callable[[], msgspec.Struct]) -> None:
        """Recompute an answer `peek` said to refresh. Blocking."""
        try:
            self._set(key, msgspec.json.encode(compute()))
        finally:
            with self._lock:
                self._refreshing.discard(key)

    def _get(self, key: str) -> bytes | None:
        if self._redis is not None:
            try:
                found = self._redis.get(self._prefix + key)
            except RedisError:
                return None  # a cache that is down only costs the query
            return found if isinstance(found, bytes) else None
        with self._lock:
            hit = self._memory.get(key)
        return hit[1] if hit is not None and time.monotonic() < hit[0] else None

    def _set(self, key: str, value: bytes) -> None:
        if self._redis is not None:
            with contextlib.suppress(RedisError):
                self._redis.set(self._prefix + key, value, px=int(ANSWER_SECONDS * 1000))
            return
        with self._lock:
            if len(self._memory) >= MAX_ENTRIES:
                self._memory.clear()
            self._memory[key] = (time.monotonic() + ANSWER_SECONDS, value)
