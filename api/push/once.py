"""Remembering what was pushed, so a milestone or alert goes out once: in Redis when configured (every worker
shares it, and it outlives restarts), in memory otherwise."""

from __future__ import annotations

import threading
import time

from redis import Redis
from redis.exceptions import RedisError


class Once:
    def __init__(self, redis: Redis | None, prefix: str = "tickettoken:pushed:") -> None:
        self._redis = redis
        self._prefix = prefix
        self._memory: dict[str, float] = {}
        self._lock = threading.Lock()

    def first(self, key: str, *, for_seconds: float | None = None) -> bool:
        """True the first time `key` is seen (or the first time again after `for_seconds`). Blocking."""
        if self._redis is not None:
            try:
                expiry = int(for_seconds * 1000) if for_seconds else None
                return bool(self._redis.set(self._prefix + key, b"1", nx=True, px=expiry))
            except RedisError:
                pass  # then this worker's memory decides
        now = time.monotonic()
        with self._lock:
            until = self._memory.get(key)
            if until is not None and now < until:
                return False
            self._memory[key] = now + for_seconds if for_seconds else float("inf")
            return True
