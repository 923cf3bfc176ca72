"""Connections to the one chDB engine: a pool per user kind for sessionless requests, one per session.

Only one process may open a chDB directory; inside it, any number of connections share the engine and
the engine shuts down when the last one closes. `Engine` keeps an anchor connection open for its whole
life, so closing the engine is one explicit step that flushes everything to disk.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from warehouse.connection import EngineConnection
from warehouse.errors import (
    SESSION_IS_LOCKED,
    SESSION_NOT_FOUND,
    TOO_MANY_SIMULTANEOUS_QUERIES,
    WarehouseError,
)
from warehouse.storage_defaults import pack_small_parts
from warehouse.users import User


class ConnectionPool:
    """Up to `size` connections made on demand; a request waits for a free one."""

    def __init__(self, factory: Callable[[], EngineConnection], size: int) -> None:
        self._factory = factory
        self._free: list[EngineConnection] = []
        self._all: list[EngineConnection] = []
        self._slots = asyncio.Semaphore(size)

    @asynccontextmanager
    async def lease(self) -> AsyncIterator[EngineConnection]:
        async with self._slots:
            conn = self._free.pop() if self._free else self._new()
            try:
                yield conn
            finally:
                self._free.append(conn)

    def _new(self) -> EngineConnection:
        conn = self._factory()
        self._all.append(conn)
        return conn

    def close(self) -> None:
        for conn in self._all:
            conn.close()
        self._all.clear()
        self._free.clear()


# A client may send its next request the moment it has read a response, a moment before the previous
# request lets go of the session; so a request waits this long for its session before giving up.
SESSION_WAIT_SECONDS = 10.0


@dataclass
class Session:
    conn: EngineConnection
    timeout: float
    last_used: float = field(default_factory=time.monotonic)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def busy(self) -> bool:
        return self.lock.locked()


class SessionRegistry:
    """HTTP sessions (`session_id`): each its own connection, database, settings and temporary tables."""

    def __init__(self, max_sessions: int) -> None:
        self._sessions: dict[tuple[str, str], Session] = {}
        self._max = max_sessions

    @asynccontextmanager
    async def lease(
        self,
        key: tuple[str, str],
        *,
        idle_timeout: float,
        check: bool,
        factory: Callable[[], EngineConnection],
    ) -> AsyncIterator[EngineConnection]:
        session = self._sessions.get(key)
        if session is None:
            if check:
                raise WarehouseError(SESSION_NOT_FOUND, f"Session {key[1]} not found")
            if len(self._sessions) >= self._max:
                self.reap()
            if len(self._sessions) >= self._max:
                raise WarehouseError(TOO_MANY_SIMULTANEOUS_QUERIES, f"Too many sessions (at most {self._max})")
            session = Session(conn=await asyncio.to_thread(factory), timeout=idle_timeout)
            self._sessions[key] = session
        try:
            await asyncio.wait_for(session.lock.acquire(), SESSION_WAIT_SECONDS)
        except TimeoutError:
            raise WarehouseError(SESSION_IS_LOCKED, f"Session {key[1]} is locked by a concurrent client.") from None
        session.timeout = idle_timeout
        try:
            yield session.conn
        finally:
            session.last_used = time.monotonic()
            session.lock.release()

    def reap(self) -> int:
        """Close sessions idle for longer than their timeout; returns how many closed."""
        now = time.monotonic()
        expired = [k for k, s in self._sessions.items() if not s.busy and now - s.last_used > s.timeout]
        for key in expired:
            self._sessions.pop(key).conn.close()
        return len(expired)

    def close(self) -> None:
        for session in self._sessions.values():
            session.conn.close()
        self._sessions.clear()


class Engine:
    """The embedded ClickHouse engine over one data directory, and every connection to it."""

    def __init__(
        self,
        data_dir: Path,
        *,
        pool_size: int,
        max_sessions: int,
        analyst_limits: dict[str, int],
        backup_dir: Path | None = None,
    ) -> None:
        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        self._path = str(data_dir)
        # The engine's configuration comes with its first connection: where BACKUP and RESTORE may write and read.
        engine_config = {"backups.allowed_path": str(backup_dir)} if backup_dir is not None else {}
        self.anchor = EngineConnection(
            self._path + ("?" + urlencode(engine_config) if engine_config else ""), readonly=False
        )
        pack_small_parts(self.anchor)  # tables made before this default existed, or by another engine
        self._analyst_string = self._path + "?" + urlencode({"readonly": 1, **analyst_limits})
        self._pools = {
            False: ConnectionPool(self._writer, pool_size),
            True: ConnectionPool(self._reader, pool_size),
        }
        self.sessions = SessionRegistry(max_sessions)

    def _writer(self) -> EngineConnection:
        return EngineConnection(self._path, readonly=False)

    def _reader(self) -> EngineConnection:
        return EngineConnection(self._analyst_string, readonly=True)

    @asynccontextmanager
    async def lease(
        self, user: User, session_id: str | None, *, session_timeout: float, session_check: bool
    ) -> AsyncIterator[EngineConnection]:
        """A connection for one request: the session's own, or one from the user's pool."""
        if session_id:
            factory = self._reader if user.readonly else self._writer
            async with self.sessions.lease(
                (user.name, session_id), idle_timeout=session_timeout, check=session_check, factory=factory
            ) as conn:
                yield conn
        else:
            async with self._pools[user.readonly].lease() as conn:
                yield conn

    def close(self) -> None:
        """Close every connection; the engine itself shuts down with the last one (the anchor)."""
        self.sessions.close()
        for pool in self._pools.values():
            pool.close()
        self.anchor.close()
