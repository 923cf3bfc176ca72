"""Group commit: concurrent requests of one stream share one INSERT, and each waits for its commit.

A request's records join the stream's queue; the writer takes everything queued (after waiting a few
milliseconds for company when it was idle, or at once under load), finds which records are already stored,
inserts the rest in one INSERT, and only then answers every request of the batch.

Up to `max_flushes` batches are written at once, so the next batch's check overlaps the previous batch's
insert. Within a worker no retry can slip through between the two: a batch does not check or write the ids of
an earlier batch still in flight; it waits for that batch instead, and its copies are duplicates if that
batch committed (or fail with it if it did not). Between workers, the tables' ReplacingMergeTree key folds any
copy that slips through, and readers deduplicate (docs/ingest.md).

The queue is bounded: past `max_pending` records a request is refused at once (429) instead of waiting.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from clickhouse_connect.driver.client import Client
from prometheus_client import Counter

from api.ingest.streams import Stream

log = logging.getLogger("tickettoken.ingest")
BATCHES = Counter("tickettoken_ingest_batches", "Group-committed batches written (one INSERT each)", ["stream"])
RECORDS = Counter("tickettoken_ingest_records", "Records in written batches, by outcome", ["stream", "outcome"])

Identity = tuple[str, str]
# Ids per existence query: the engine's time for `IN <array parameter>` grows much faster than the array
# (measured here: 10,000 ids 0.06 s, 100,000 ids 86 s), so large batches ask in pieces.
CHECK_CHUNK = 10_000
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
    """One request's records: decoded records, or a table already in the warehouse's columns (Arrow bodies)."""

    records: Sequence[Any]
    table: pa.Table | None
    identities: list[Identity] | None
    done: asyncio.Future[list[bool]]

    @property
    def size(self) -> int:
        return self.table.num_rows if self.table is not None else len(self.records)


@dataclass
class CommittedBatch:
    """What one INSERT committed, published for the live views: the event (or venue) of each new row."""

    stream: str
    scopes: list[str]


@dataclass
class StreamWriter:
    stream: Stream
    client: Callable[[], Client]
    on_commit: Callable[[CommittedBatch], Awaitable[None]] | None = None
    max_batch: int = 50_000
    max_delay: float = 0.004
    max_pending: int = 200_000
    max_flushes: int = 2
    _queue: list[_Pending] = field(default_factory=list)
    _pending: int = 0
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None
    _in_flight: dict[Identity, asyncio.Future[None]] = field(default_factory=dict)

    async def submit(self, records: Sequence[Any]) -> list[bool]:
        """Commit `records`; for each, True when it is new, False when it was already stored."""
        return await self._enqueue(records, None, None) if records else []

    async def submit_table(self, table: pa.Table, identities: list[Identity]) -> list[bool]:
        """Commit a table already in the warehouse's columns (one identity per row); flags as for `submit`."""
        return await self._enqueue((), table, identities) if table.num_rows else []

    async def _enqueue(
        self, records: Sequence[Any], table: pa.Table | None, identities: list[Identity] | None
    ) -> list[bool]:
        size = table.num_rows if table is not None else len(records)
        if self._pending + size > self.max_pending:
            raise Overloaded(f"{self._pending} {self.stream.name} records are waiting to be written")
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"ingest-writer-{self.stream.name}")
        done: asyncio.Future[list[bool]] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(records, table, identities, done))
        self._pending += size
        self._wake.set()
        return await done

    async def _run(self) -> None:
        slots = asyncio.Semaphore(self.max_flushes)
        flushes: set[asyncio.Task[None]] = set()
        idle = True
        while True:
            await self._wake.wait()
            if idle and self._pending < self.max_batch:
                # After a quiet spell, wait a few milliseconds for other requests to join. Under load there is
                # no wait: requests gather in the queue while earlier batches are being written.
                await asyncio.sleep(self.max_delay)
            await slots.acquire()
            batch, self._queue = self._queue, []
            self._wake.clear()
            idle = not batch
            if not batch:
                slots.release()
                continue
            task = asyncio.create_task(self._flush(batch))
            flushes.add(task)
            task.add_done_callback(flushes.discard)
            task.add_done_callback(lambda _: slots.release())

    async def _flush(self, batch: list[_Pending]) -> None:
        batch.sort(key=lambda pending: pending.table is not None)  # records first: their table is built whole
        identities = [
            identity
            for pending in batch
            for identity in (
                pending.identities
                if pending.identities is not None
                else [self.stream.identity(record) for record in pending.records]
            )
        ]
        earlier = {identity: self._in_flight[identity] for identity in identities if identity in self._in_flight}
        mine: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        mine.add_done_callback(lambda f: f.exception() if not f.cancelled() else None)  # seen: never "unretrieved"
        claimed = [identity for identity in dict.fromkeys(identities) if identity not in earlier]
        for identity in claimed:
            self._in_flight[identity] = mine
        try:
            flags = await asyncio.to_thread(self._write, batch, identities, set(earlier))
            mine.set_result(None)
            # Copies of records an earlier batch is writing: duplicates once it commits; its failure is theirs.
            for waiting in {id(f): f for f in earlier.values()}.values():
                await asyncio.shield(waiting)
        except Exception as error:  # noqa: BLE001 - every waiting request gets the failure, none a commit
            if not mine.done():
                mine.set_exception(error)
            _answer(batch, error)
            return
        finally:
            for identity in claimed:
                if self._in_flight.get(identity) is mine:
                    del self._in_flight[identity]
            self._pending -= len(identities)
        _answer(batch, flags)
        accepted = sum(flags)
        BATCHES.labels(self.stream.name).inc()
        RECORDS.labels(self.stream.name, "accepted").inc(accepted)
        RECORDS.labels(self.stream.name, "duplicate").inc(len(flags) - accepted)
        if self.on_commit is not None:
            where = 0 if self.stream.is_fact else 1  # a fact's event; a catalog row's own id
            scopes = [identity[where] for identity, new in zip(identities, flags, strict=True) if new]
            if scopes:
                await self.on_commit(CommittedBatch(self.stream.name, scopes))

    def _write(self, batch: list[_Pending], identities: list[Identity], elsewhere: set[Identity]) -> list[bool]:
        """Mark duplicates (of stored rows, of rows in flight elsewhere, within the batch); insert the rest."""
        to_check = [identity for identity in identities if identity not in elsewhere]
        stored = self._stored(to_check) if to_check else set()
        seen: set[Identity] = set(elsewhere)
        flags: list[bool] = []
        for identity in identities:
            new = identity not in stored and identity not in seen
            flags.append(new)
            seen.add(identity)
        if any(flags):
            records = [record for pending in batch for record in pending.records]
            parts = [self.stream.table_of(records)] if records else []
            parts += [pending.table for pending in batch if pending.table is not None]
            table = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
            self.client().insert_arrow(self.stream.table, table.filter(pa.array(flags)))
        return flags

    def _stored(self, identities: list[Identity]) -> set[Identity]:
        """The identities already in the table, asked CHECK_CHUNK ids at a time."""
        ordered = sorted(set(identities), key=lambda identity: identity[1])
        found: set[Identity] = set()
        for start in range(0, len(ordered), CHECK_CHUNK):
            found |= self._stored_chunk(ordered[start : start + CHECK_CHUNK])
        return found

    def _stored_chunk(self, identities: list[Identity]) -> set[Identity]:
        scopes = sorted({scope for scope, _ in identities})
        ids = [record_id for _, record_id in identities]
        sql = _EXISTING_FACTS_SQL if self.stream.is_fact else _EXISTING_CATALOG_SQL
        parameters = {"table": self.stream.table, "id_field": self.stream.id_field, "scopes": scopes, "ids": ids}
        rows = self.client().query(sql, parameters=parameters).result_rows
        if self.stream.is_fact:
            return {(str(scope), str(record_id)) for scope, record_id in rows}
        return {(_iso_ms(str(version)), str(record_id)) for version, record_id in rows}


def _answer(batch: list[_Pending], outcome: list[bool] | Exception) -> None:
    """Give each request of a batch its flags (its slice of `outcome`), or the batch's failure."""
    start = 0
    for pending in batch:
        end = start + pending.size
        if not pending.done.done():  # a request whose client went away has nobody to answer
            if isinstance(outcome, Exception):
                pending.done.set_exception(outcome)
            else:
                pending.done.set_result(outcome[start:end])
        start = end


def _iso_ms(text: str) -> str:
    """ClickHouse's `2026-01-02 03:04:05.678` as `2026-01-02T03:04:05.678+00:00`, as identities spell it."""
    return text.replace(" ", "T") + "+00:00"
