"""Group commit: concurrent requests of one stream share one INSERT, and each waits for its commit.

A request's records join the stream's queue; a flusher takes everything queued (after waiting a few
milliseconds for company, or at once when a batch is full), finds which records are already stored,
inserts the rest in one INSERT, and only then answers every request of the batch. Flushes of a stream run one
at a time, so within a worker the check and the insert cannot interleave with a concurrent retry; between
workers, the tables' ReplacingMergeTree key folds any copy that slips through, and readers deduplicate.

The queue is bounded: past `max_pending` records a request is refused at once (429) instead of waiting.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from clickhouse_connect.driver.client import Client

from api.ingest.streams import Stream

log = logging.getLogger("tickettoken.ingest")

_EXISTING_FACTS_SQL = (
    "SELECT event_id, {id_field:Identifier} FROM {table:Identifier} "
    "WHERE event_id IN {scopes:Array(String)} AND {id_field:Identifier} IN {ids:Array(String)}"
)
_EXISTING_CATALOG_SQL = (
    "SELECT toString(updated_at), {id_field:Identifier} FROM {table:Identifier} "
    "WHERE {id_field:Identifier} IN {ids:Array(String)}"
)


class Overloaded(Exception):
    """The stream's queue is full: the client should retry after a moment."""


@dataclass
class _Pending:
    records: Sequence[Any]
    done: asyncio.Future[list[bool]]


@dataclass
class CommittedBatch:
    """What one INSERT committed: published for the live views."""

    stream: str
    rows: list[Any]


@dataclass
class StreamWriter:
    stream: Stream
    client: Callable[[], Client]
    on_commit: Callable[[CommittedBatch], Awaitable[None]] | None = None
    max_batch: int = 50_000
    max_delay: float = 0.004
    max_pending: int = 200_000
    _queue: list[_Pending] = field(default_factory=list)
    _pending: int = 0
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    async def submit(self, records: Sequence[Any]) -> list[bool]:
        """Commit `records`; for each, True when it is new, False when it was already stored."""
        if not records:
            return []
        if self._pending + len(records) > self.max_pending:
            raise Overloaded(f"{self._pending} {self.stream.name} records are waiting to be written")
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"ingest-writer-{self.stream.name}")
        done: asyncio.Future[list[bool]] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(records, done))
        self._pending += len(records)
        self._wake.set()
        return await done

    async def _run(self) -> None:
        idle = True
        while True:
            await self._wake.wait()
            if idle and self._pending < self.max_batch:
                # After a quiet spell, wait a few milliseconds for other requests to join. Under load there is
                # no wait: requests gather in the queue while the previous batch is being written.
                await asyncio.sleep(self.max_delay)
            batch, self._queue = self._queue, []
            self._wake.clear()
            idle = not batch
            if not batch:
                continue
            rows = [record for pending in batch for record in pending.records]
            try:
                flags = await asyncio.to_thread(self._write, rows)
            except Exception as error:  # noqa: BLE001 - every waiting request gets the failure, none a commit
                for pending in batch:
                    if not pending.done.done():
                        pending.done.set_exception(error)
            else:
                start = 0
                for pending in batch:
                    end = start + len(pending.records)
                    if not pending.done.done():
                        pending.done.set_result(flags[start:end])
                    start = end
                if self.on_commit is not None:
                    accepted = [row for row, new in zip(rows, flags, strict=True) if new]
                    if accepted:
                        await self.on_commit(CommittedBatch(self.stream.name, accepted))
            finally:
                self._pending -= len(rows)

    def _write(self, rows: list[Any]) -> list[bool]:
        """Mark duplicates (of stored rows and within the batch) and insert the rest. Blocking."""
        started = time.perf_counter()
        identities = [self.stream.identity(row) for row in rows]
        stored = self._stored(identities)
        seen: set[tuple[str, str]] = set()
        flags: list[bool] = []
        for identity in identities:
            new = identity not in stored and identity not in seen
            flags.append(new)
            seen.add(identity)
        fresh = [row for row, new in zip(rows, flags, strict=True) if new]
        if fresh:
            self.client().insert_arrow(self.stream.table, self.stream.table_of(fresh))
        log.debug(
            "%s: %d rows, %d new, %.1f ms",
            self.stream.name,
            len(rows),
            len(fresh),
            (time.perf_counter() - started) * 1e3,
        )
        return flags

    def _stored(self, identities: list[tuple[str, str]]) -> set[tuple[str, str]]:
        scopes = sorted({scope for scope, _ in identities})
        ids = sorted({record_id for _, record_id in identities})
        sql = _EXISTING_FACTS_SQL if self.stream.is_fact else _EXISTING_CATALOG_SQL
        parameters = {"table": self.stream.table, "id_field": self.stream.id_field, "scopes": scopes, "ids": ids}
        rows = self.client().query(sql, parameters=parameters).result_rows
        if self.stream.is_fact:
            return {(str(scope), str(record_id)) for scope, record_id in rows}
        return {(_iso_ms(str(version)), str(record_id)) for version, record_id in rows}


def _iso_ms(text: str) -> str:
    """ClickHouse's `2026-01-02 03:04:05.678` as `2026-01-02T03:04:05.678+00:00`, as identities spell it."""
    return text.replace(" ", "T") + "+00:00"
