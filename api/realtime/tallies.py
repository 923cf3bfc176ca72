"""The rows of the events being watched, kept in this worker's memory and brought up to date by its own commits.

A live view needs every row of its event. Reading them from the table on each refresh costs one query per
view and event every second, which is what the warehouse cannot spare while ingest runs. So the first read of
an event's stream loads its rows (`FINAL`), and from then on every batch this worker commits is added as it
commits. Commits heard while the rows are being read are added after, each record at most once (identity
hashes), so a commit the read already saw is not counted twice.

With several workers, each hears the others' commits over Redis (`shared_rows.py`) and checks those by
identity, since two workers may commit one record at once; without Redis, or while the subscription is down,
the rows are read from the table on each refresh instead. Rows are read again after `max_age` seconds (rows
written straight into the warehouse, not through the API, show up then), one event at a time in one thread
while the rows held are served, and an event's rows are dropped when a write of its records fails (the insert
may have landed without an answer). Past `max_rows` in all, the least recently used events are dropped.

Reloads go in turn because the events watched were mostly first read together, so they fall due together: a
thread each put dozens of reads beside the event loop at once, and for half a minute single sales waited twice
as long. With 150 events watched and reloads every minute, in turn halved the p99 of the sales (85-88 ms against
159-161) and of the live answers (25-26 against 48-52; docs/performance-log.md, fourteenth round).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from prometheus_client import Counter

from api.ingest.seen import Hashes
from api.realtime.rows import SPECS, Rows, Spec, merged

log = logging.getLogger("tickettoken.realtime")
LOADS = Counter("tickettoken_live_loads", "Reads of an event's rows for the live views", ["stream"])
LOAD_WAIT_SECONDS = 30.0
RELOAD_RETRY_SECONDS = 5.0
PYTHON_FILTER_ROWS = 64
INLINE_ROWS = 1_000  # a commit this small is handled on the event loop; a larger one in a thread

Key = tuple[str, str]  # (stream, event_id)
Fetch = Callable[[Spec, str], Rows]


@dataclass
class _Tally:
    rows: Rows | None = None  # None until the first read is done
    fresh: list[Rows] = field(default_factory=list)  # committed since, not yet merged in
    unchecked: bool = False  # some of `fresh` came from another worker: it may repeat a record
    during_load: list[Rows] | None = None  # committed while a read runs (None: no read running)
    loaded_at: float = 0.0
    ready: threading.Event = field(default_factory=threading.Event)
    failed: BaseException | None = None


class Tallies:
    def __init__(self, fetch: Fetch, *, enabled: bool, max_rows: int, max_age: float) -> None:
        """`enabled`: this worker hears every commit (it is the only one); with other workers sharing rows over
        Redis, `hearing` turns the tallies on and off as that subscription comes and goes."""
        self._fetch = fetch
        self.enabled = enabled
        self.max_rows = max_rows
        self.max_age = max_age
        self._tallies: OrderedDict[Key, _Tally] = OrderedDict()  # least recently used first
        self._watched: dict[str, set[str]] = {}  # per stream, the events in `_tallies`
        self._lock = threading.Lock()
        self._due: queue.SimpleQueue[tuple[Key, _Tally]] = queue.SimpleQueue()  # stale, to be read again in turn
        self._reloader: threading.Thread | None = None

    def rows(self, stream: str, event_id: str) -> Rows:
        """Every row of the event's stream, as committed so far. Blocking (the first call reads the table)."""
        spec = SPECS[stream]
        if not self.enabled:
            return self._fetch(spec, event_id)
        key = (stream, event_id)
        with self._lock:
            tally = self._tallies.get(key)
            first = tally is None
            if tally is None:
                tally = self._tallies[key] = _Tally(during_load=[])
                self._watched.setdefault(stream, set()).add(event_id)
            self._tallies.move_to_end(key)
            stale = tally.during_load is None and time.monotonic() - tally.loaded_at > self.max_age
            if stale:
                tally.during_load = []
                self._due.put((key, tally))
                if self._reloader is None:
                    self._reloader = threading.Thread(target=self._reload_in_turn, name="live-reload", daemon=True)
                    self._reloader.start()
        if first:
            self._load(key, tally)
        if not tally.ready.wait(LOAD_WAIT_SECONDS) or tally.rows is None:
            if tally.failed is not None:
                raise tally.failed  # the read's own error (the warehouse unreachable: a 503)
            raise TimeoutError(f"the rows of {event_id!r} took over {LOAD_WAIT_SECONDS:g} s to read")
        with self._lock:
            if tally.fresh:
                # This worker commits a record once (ingest's duplicate checks): only another's rows need a check.
                tally.rows = merged(tally.rows, tally.fresh, dedupe=tally.unchecked)
                tally.fresh, tally.unchecked = [], False
            return tally.rows

    def kept(self, stream: str, event_id: str) -> int | None:
        """How many rows of the event's stream `rows` would give from memory, without reading the table; None when
        it would read (not kept yet, or the tallies are off). Does not block."""
        if not self.enabled:
            return None
        with self._lock:
            tally = self._tallies.get((stream, event_id))
            if tally is None or tally.rows is None:
                return None
            return len(tally.rows) + sum(len(rows) for rows in tally.fresh)

    async def hear(
        self, stream: str, table: pa.Table, hashes: Hashes | None = None, *, elsewhere: bool = False
    ) -> None:
        """`committed`, on the event loop for a few rows (it returns before anything else runs), in a thread for
        many."""
        if table.num_rows <= INLINE_ROWS:
            self.committed(stream, table, hashes, elsewhere=elsewhere)
        else:
            await asyncio.to_thread(self.committed, stream, table, hashes, elsewhere=elsewhere)

    def committed(self, stream: str, table: pa.Table, hashes: Hashes | None = None, *, elsewhere: bool = False) -> None:
        """Add a committed batch's new rows (with their identity hashes, when known) to the events kept;
        `elsewhere`: another worker committed them (so they may repeat a record this one committed too)."""
        if not self.enabled or stream not in SPECS:
            return
        with self._lock:
            watched = set(self._watched.get(stream, ()))
        if not watched:
            return
        if table.num_rows <= PYTHON_FILTER_ROWS:  # a live commit of a few rows: cheaper than building a value set
            kept = np.array([event_id in watched for event_id in table.column("event_id").to_pylist()], np.bool_)
        else:
            value_set = pa.array(list(watched), pa.string())
            kept = np.asarray(pc.is_in(table.column("event_id"), value_set=value_set).to_numpy(zero_copy_only=False))
        if not kept.any():
            return
        mine = table if kept.all() else table.filter(pa.array(kept))
        if hashes is not None and mine.num_rows < table.num_rows:
            hashes = hashes[kept]
        parts = Rows.of(SPECS[stream], mine, hashes, by_time=False).split(mine.column("event_id").to_pylist())
        with self._lock:
            for event_id, rows in parts.items():
                tally = self._tallies.get((stream, event_id))
                if tally is None:
                    continue
                tally.fresh.append(rows)
                tally.unchecked |= elsewhere
                if tally.during_load is not None:
                    tally.during_load.append(rows)

    def hearing(self, on: bool) -> None:
        """Another worker's commits are (on) or are no longer (off) heard: start over either way, since
        commits may have gone unheard; while off, every answer reads the table."""
        with self._lock:
            self.enabled = on
            self._tallies.clear()
            self._watched.clear()

    def forget(self, stream: str, event_ids: list[str]) -> None:
        """Drop these events' rows (a write of their records failed: it may have landed unanswered)."""
        with self._lock:
            for event_id in event_ids:
                tally = self._tallies.get((stream, event_id))
                if tally is not None and tally.ready.is_set():
                    self._drop((stream, event_id))

    def _reload_in_turn(self) -> None:
        while True:
            key, tally = self._due.get()
            with self._lock:
                kept = self._tallies.get(key) is tally
                if not kept:
                    tally.during_load = None  # dropped while it waited: nobody reads these rows
            if kept:
                try:
                    self._load(key, tally)
                except Exception:  # the one reloader goes on; this event is due again at its next answer
                    log.exception("live: reading %s of %s again failed", *key)
                    with self._lock:
                        tally.during_load = None

    def _load(self, key: Key, tally: _Tally) -> None:
        stream, event_id = key
        LOADS.labels(stream).inc()
        try:
            rows = self._fetch(SPECS[stream], event_id)
        except Exception as error:  # noqa: BLE001 - the waiting readers get the failure
            log.warning("live: reading %s of %s failed: %s", stream, event_id, error)
            with self._lock:
                tally.failed, tally.during_load = error, None
                # A reload that failed is tried again a few seconds on, not on the very next request.
                tally.loaded_at = time.monotonic() - max(0.0, self.max_age - RELOAD_RETRY_SECONDS)
                if tally.rows is None and self._tallies.get(key) is tally:
                    self._drop(key)
            tally.ready.set()
            return
        with self._lock:
            # What was committed before the read is in it; what came during the read may be: add it by identity.
            tally.rows = merged(rows, tally.during_load or [], dedupe=True)
            tally.fresh, tally.unchecked, tally.during_load, tally.loaded_at = [], False, None, time.monotonic()
            self._evict()
        tally.ready.set()

    def _evict(self) -> None:
        """Drop the least recently used events while over `max_rows` (never the one just used)."""
        total = sum(len(t.rows) for t in self._tallies.values() if t.rows is not None)
        for key in list(self._tallies)[:-1]:
            if total <= self.max_rows:
                break
            tally = self._tallies[key]
            if tally.rows is not None and tally.during_load is None:
                total -= len(tally.rows)
                self._drop(key)

    def _drop(self, key: Key) -> None:
        """Forget one event's stream (the lock held)."""
        del self._tallies[key]
        self._watched.get(key[0], set()).discard(key[1])
