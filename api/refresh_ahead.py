"""Cached entries read again in the background before they expire.

A worker caches what it reads of the warehouse for a short time (API keys, the catalog's events, the live views'
events). When an entry simply expires, every request in flight that needs it misses at once: each leaves the fast
paths for the route, and waits in a thread while one of them reads the entry again (over 65 s of 1,000 single
sales/s, 547 sales went through the route that way, against 149 with this). So an entry past its refresh age is
still used, and is read again in the background meanwhile; it only expires when the reads keep failing (the
warehouse is down), just as before.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Generic, TypeVar

log = logging.getLogger("tickettoken.cache")
K = TypeVar("K", bound=Hashable)
RETRY_SECONDS = 1.0  # after a failed read, before the next: a warehouse that is down is not asked in a loop


class RefreshAhead(Generic[K]):
    """Keys waiting to be read again; one thread at a time reads them, in batches, while any are waiting."""

    def __init__(self, read: Callable[[Sequence[K]], object], name: str, *, gather_seconds: float = 0.0) -> None:
        self._read = read  # reads these keys and stores them in the cache (blocking; what it returns is unused)
        self._name = name
        # Before each read, how long the keys coming due meanwhile join it: fewer, larger reads, for caches whose
        # entries stay usable well past their refresh age.
        self._gather = gather_seconds
        self._lock = threading.Lock()
        self._waiting: set[K] = set()
        self._reading: set[K] = set()  # the batch being read: asked for again meanwhile, it is not read twice
        self._running = False

    def request(self, keys: Iterable[K]) -> None:
        """Have `keys` read again soon (does not block)."""
        # A key waiting or being read needs nothing more: checked without the lock first, since a busy entry is
        # asked for by every request until its read is done.
        wanted = [key for key in keys if key not in self._waiting and key not in self._reading]
        if not wanted:
            return
        with self._lock:
            self._waiting.update(key for key in wanted if key not in self._reading)
            if self._running or not self._waiting:
                return
            self._running = True
        threading.Thread(target=self._run, name=self._name, daemon=True).start()

    def _run(self) -> None:
        while True:
            time.sleep(self._gather)
            with self._lock:
                self._reading, self._waiting = self._waiting, set()
                if not self._reading:
                    self._running = False
                    return
                batch = list(self._reading)
            try:
                self._read(batch)
            except Exception:  # the entries expire as they would have, unless a later request's read succeeds
                log.warning("%s: could not read %d cached entries again", self._name, len(batch), exc_info=True)
                with self._lock:
                    self._reading = set()
                time.sleep(RETRY_SECONDS)
