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
# In memory, an answer asked for in its life is recomputed in the background at this age, while it is still
# served: an answer in use never expires, so its requests never queue behind its recomputation. At 0.8 s each
# busy answer is computed about 1.25 times a second (at half its life it was twice: the reads had ~7% less of the
# API, 108 against 100 µs per answer, A/B inside one API process under the live benchmark's load), and a refresh,
# which takes milliseconds, has 0.2 s. The refresh is timed from the first request of the answer's life, not left
# to a request in its last fifth: an event asked for a few times a second often had none there, and its next
# request computed the answer in the foreground (most of the benchmark's misses: docs/realtime.md).
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

    def peek(self, key: str) -> tuple[bytes, float | None] | None:
        """The answer (JSON) from this worker's memory without blocking (None with Redis, or on a miss), and, for the
        first caller of its life, when to `refresh` it (monotonic: REFRESH_AFTER_SECONDS into its life, or now
        when that is past); None for the others."""
        if self._redis is not None:
            return None
        now = time.monotonic()
        with self._lock:
            hit = self._memory.get(key)
            if hit is None or now >= hit[0]:
                return None
            due = None
            if key not in self._refreshing:
                self._refreshing.add(key)
                due = hit[0] - ANSWER_SECONDS + REFRESH_AFTER_SECONDS
        return hit[1], due

    def refresh(self, key: str, compute: Callable[[], msgspec.Struct | None]) -> None:
        """Recompute an answer `peek` gave a time to refresh at (nothing is kept when `compute` gives None); the
        next request for the new answer is given a time again. Blocking."""
        try:
            value = compute()
            if value is not None:
                self._set(key, msgspec.json.encode(value))
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
