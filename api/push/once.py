"""Remembering what was pushed, so a milestone or alert goes out once: in Redis when configured (every worker
shares it, and it outlives restarts); otherwise in memory, backed by the warehouse's `pushed_once` table so that
a restart does not announce every milestone again."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from clickhouse_connect.driver.client import Client
from redis import Redis
from redis.exceptions import RedisError

log = logging.getLogger("tickettoken.push")
# How long an announcement made for good is remembered, in Redis and in the warehouse (migration 0008). The table is
# read whole at start, and kept for ever it grew without end, by about twenty rows an event.
KEEP_DAYS = 400


class KeptInWarehouse:
    """The announcements made for good (not those repeated after a while), in the warehouse."""

    def __init__(self, client: Callable[[], Client]) -> None:
        self._client = client

    def load(self) -> list[str]:
        """What was announced in the last KEEP_DAYS (the table's TTL removes older rows, but only as it merges)."""
        sql = "SELECT key FROM pushed_once WHERE pushed_at > now64(3) - toIntervalDay({days:UInt32})"
        return [str(row[0]) for row in self._client().query(sql, parameters={"days": KEEP_DAYS}).result_rows]

    def add(self, key: str) -> None:
        self._client().insert("pushed_once", [[key, datetime.now(UTC)]], column_names=["key", "pushed_at"])


class Once:
    def __init__(
        self, redis: Redis | None, prefix: str = "tickettoken:pushed:", kept: KeptInWarehouse | None = None
    ) -> None:
        """`kept`: where announcements made for good outlive this process when there is no Redis."""
        self._redis = redis
        self._prefix = prefix
        self._memory: dict[str, float] = {}
        self._lock = threading.Lock()
        self._kept = kept
        self._loaded = kept is None

    def first(self, key: str, *, for_seconds: float | None = None) -> bool:
        """True the first time `key` is seen (or the first time again after `for_seconds`). Blocking."""
        if self._redis is not None:
            try:
                expiry = int((for_seconds or KEEP_DAYS * 86400) * 1000)
                return bool(self._redis.set(self._prefix + key, b"1", nx=True, px=expiry))
            except RedisError:
                pass  # then this worker's memory decides
        now = time.monotonic()
        with self._lock:
            self._load_kept()
            until = self._memory.get(key)
            if until is not None and now < until:
                return False
            self._memory[key] = now + for_seconds if for_seconds else float("inf")
        if for_seconds is None and self._kept is not None:
            try:
                self._kept.add(key)
            except Exception as error:  # noqa: BLE001 - announced all the same; a restart may announce it again
                log.warning("push: could not keep %s as announced: %s", key, error)
        return True

    def _load_kept(self) -> None:
        """Once, under the lock: what earlier runs announced (tried again at the next call when it fails)."""
        if self._loaded or self._kept is None:
            return
        try:
            kept = self._kept.load()
        except Exception as error:  # noqa: BLE001 - announcements go on; what was announced before may be again
            log.warning("push: could not read what was announced before: %s", error)
            return
        self._memory.update(dict.fromkeys(kept, float("inf")))
        self._loaded = True
