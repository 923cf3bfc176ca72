"""INSERTs sent ahead of their rows, so that the warehouse sets one up while the rows are still being gathered.

Under a steady flow of single records the writer commits a small batch every ~15 ms, and of a 64-row INSERT's
~8 ms in the embedded warehouse about 3 go to receiving the request and setting the INSERT up (classifying the
statement, building the engine's pipeline) before the first row is read. So once a small batch of a table has
committed, the next INSERT into that table is sent at once, its rows to follow: with `Expect: 100-continue` the
client sends the request's head alone, and the server sets the INSERT up and then asks for the body (ours does;
ClickHouse also answers `100 Continue`, but this is not tested against one). When the next batch is ready its
rows are streamed in, and only parsing and writing them is left to wait for: 4.5-5.3 ms against 8.3-9.0 ms
from rows ready to committed (p50, 64 sales, scratch harness).

An early INSERT holds one of the warehouse's connections while it waits, so one is sent only while small
batches of its table come steadily (the last one committed less than IDLE_SECONDS before), a worker has at most
MOST_WAITING of them at once (of the embedded warehouse's 16 connections, 8 with 4 workers), and it waits at
most IDLE_SECONDS, then ends with no rows, which writes nothing. One that failed before its rows were sent (the
warehouse restarted, say) has written nothing either, and the rows are sent the usual way.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator
from typing import Any

import pyarrow as pa
from clickhouse_connect.driver.asyncclient import AsyncClient
from prometheus_client import Counter

log = logging.getLogger("tickettoken.ingest")
EARLY = Counter(
    "tickettoken_ingest_early_inserts",
    "INSERTs sent ahead of their rows: used, ended (no rows within the idle time), failed (before their rows)",
    ["outcome"],
)

IDLE_SECONDS = 0.25
MOST_WAITING = 2  # per worker: the busiest streams (sales and gate scans, at an event)


def arrow_file(rows: pa.Table) -> bytes:
    """`rows` as an Arrow IPC file, the format the INSERTs send."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, rows.schema) as writer:
        writer.write_table(rows)
    return bytes(sink.getvalue().to_pybytes())


_Key = tuple[str, tuple[tuple[str, Any], ...]]  # a table and the INSERT's settings


class EarlyInserts:
    """Small INSERTs, each through the INSERT sent ahead for its table when there is one."""

    def __init__(self) -> None:
        self._waiting: dict[_Key, EarlyInsert] = {}
        self._last_commit: dict[_Key, float] = {}
        self._closed = False

    async def insert(self, client: AsyncClient, table: str, rows: pa.Table, settings: dict[str, Any]) -> None:
        """INSERT `rows` and wait for the commit; then, while they come steadily, send the next one ahead."""
        data = arrow_file(rows)
        key = (table, tuple(sorted(settings.items())))
        early = self._waiting.pop(key, None)
        if early is not None and not early.schema.equals(rows.schema):
            early.end()
            early = None
        if early is None or not await early.send(data):
            await client.raw_insert(table, rows.schema.names, data, settings, "Arrow")
        now = time.monotonic()
        steady = now - self._last_commit.get(key, -math.inf) < IDLE_SECONDS
        self._last_commit[key] = now
        if steady and not self._closed and key not in self._waiting and len(self._waiting) < MOST_WAITING:
            self._waiting[key] = EarlyInsert(client, table, rows.schema, settings)

    async def close(self) -> None:
        """End the INSERTs sent ahead and wait for them; send no more."""
        self._closed = True
        waiting, self._waiting = list(self._waiting.values()), {}
        for early in waiting:
            early.end()
        await asyncio.gather(*(early.wait() for early in waiting))


class EarlyInsert:
    """One INSERT into `table` sent without its rows; `send` streams them in and waits for the commit."""

    def __init__(self, client: AsyncClient, table: str, schema: pa.Schema, settings: dict[str, Any]) -> None:
        self.schema = schema
        loop = asyncio.get_running_loop()
        self._rows: asyncio.Future[bytes] = loop.create_future()
        self._streamed = False  # the request's body has taken the rows: they may have been written
        self._task = asyncio.create_task(
            client.raw_insert(
                table, schema.names, self._body(), settings, "Arrow", transport_settings={"Expect": "100-continue"}
            )
        )
        self._task.add_done_callback(_quietly)
        self._idle = loop.call_later(IDLE_SECONDS, self.end)

    async def _body(self) -> AsyncIterator[bytes]:
        rows = await self._rows
        self._streamed = True
        yield rows

    async def send(self, rows: bytes) -> bool:
        """Stream `rows` in and wait until they are committed. False when nothing was sent, because the INSERT
        had already ended or failed (send them another way); raises when it failed after taking them."""
        self._idle.cancel()
        if self._rows.done():  # ended
            return False
        if not self._task.done():
            self._rows.set_result(rows)
            try:
                await self._task
            except Exception:
                if self._streamed:
                    raise
            else:
                EARLY.labels("used").inc()
                return True
        EARLY.labels("failed").inc()
        return False

    def end(self) -> None:
        """End it with no rows (it writes nothing), unless it has its rows already."""
        self._idle.cancel()
        if not self._rows.done():
            self._rows.set_result(arrow_file(self.schema.empty_table()))
            EARLY.labels("ended").inc()

    async def wait(self) -> None:
        """Until the request is over (after `end`), whatever its outcome."""
        await asyncio.wait([self._task])


def _quietly(task: asyncio.Task[Any]) -> None:
    """Its failure is raised by `send` when rows were lost; otherwise (nothing written) a debug line is enough."""
    if not task.cancelled() and task.exception() is not None:
        log.debug("an early INSERT failed: %r", task.exception())
