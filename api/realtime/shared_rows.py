"""Committed rows shared between workers over Redis, so that every worker's live views count every commit.

Each worker publishes the rows it committed (the columns the live views keep, as an Arrow stream); the others
add them to the events they keep (`tallies.py`). Redis pub/sub may drop messages only by dropping the
connection: while not subscribed, a worker's views read the table, and on (re)subscribing it starts over.
"""

from __future__ import annotations

import asyncio
import logging

import pyarrow as pa
from prometheus_client import Counter

from api.bus import Bus
from api.bus import listen as bus_listen
from api.realtime.rows import SPECS
from api.realtime.tallies import INLINE_ROWS, Tallies

log = logging.getLogger("tickettoken.realtime")
CHANNEL = "live-rows"
HEARD = Counter("tickettoken_live_rows_heard", "Rows committed by other workers, added to this one's live views",
                ["stream"])  # fmt: skip


def encode(origin: bytes, stream: str, table: pa.Table) -> bytes | None:
    """A committed batch as the channel carries it (None for a stream the live views do not keep)."""
    spec = SPECS.get(stream)
    if spec is None:
        return None
    kept = table.select(spec.columns)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, kept.schema) as writer:
        writer.write_table(kept)
    return b"%s %s\n%s" % (origin, stream.encode(), sink.getvalue().to_pybytes())


async def publish(bus: Bus, origin: bytes, stream: str, table: pa.Table) -> None:
    """Tell the other workers about rows this one committed."""
    args = (origin, stream, table)
    message = encode(*args) if table.num_rows <= INLINE_ROWS else await asyncio.to_thread(encode, *args)
    if message is not None:
        await bus.publish(CHANNEL, message)


def decode(message: bytes) -> tuple[bytes, str, pa.Table]:
    head, _, body = message.partition(b"\n")
    origin, _, stream = head.partition(b" ")
    return origin, stream.decode(), pa.ipc.open_stream(body).read_all()


async def listen(bus: Bus, origin: bytes, tallies: Tallies) -> None:
    """Add other workers' committed rows to this worker's live views, until cancelled. While not subscribed,
    the views read the table (`Tallies.hearing`)."""

    async def handle(message: bytes) -> None:
        try:
            sender, stream, table = decode(message)
        except (ValueError, pa.ArrowInvalid):
            log.warning("live: ignored a malformed message on %s", CHANNEL)
            return
        if sender != origin and stream in SPECS:
            await tallies.hear(stream, table, elsewhere=True)
            HEARD.labels(stream).inc(table.num_rows)

    await bus_listen(bus, CHANNEL, handle, tallies.hearing, "live: hearing other workers' commits")
