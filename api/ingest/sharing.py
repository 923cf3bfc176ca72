"""Commits heard from other workers, so that every worker's Bloom filters know every stored identity.

Each fact batch a worker commits goes on the bus as the 64-bit hashes of its new rows' identities; the other
workers add them to their filters. Best effort like the bus itself: a message lost only lets a later copy of
one of those records count as accepted in its answer (the table still folds it; see `seen.py`); while the
subscription is down, the filters are not trusted.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

import numpy as np
from prometheus_client import Counter

from api.bus import Bus
from api.bus import listen as bus_listen
from api.ingest.seen import Hashes
from api.ingest.writer import CommittedBatch, StreamWriter

log = logging.getLogger("tickettoken.ingest")
CHANNEL = "ingest-identities"
HEARD = Counter(
    "tickettoken_ingest_identities_heard",
    "Identities committed by other workers, added to this one's filters",
    ["stream"],
)
_HASH = np.dtype("<u8")


def new_origin() -> bytes:
    """This worker's name on the bus, so that it skips its own messages."""
    return uuid.uuid4().hex.encode()


def encode(origin: bytes, batch: CommittedBatch) -> bytes:
    return b"%s %s\n%s" % (origin, batch.stream.encode(), batch.hashes.astype(_HASH).tobytes())


def decode(message: bytes) -> tuple[bytes, str, Hashes]:
    head, _, body = message.partition(b"\n")
    origin, _, stream = head.partition(b" ")
    return origin, stream.decode(), np.frombuffer(body, dtype=_HASH).astype(np.uint64)


async def listen(bus: Bus, origin: bytes, writers: dict[str, StreamWriter]) -> None:
    """Add other workers' committed identities to this worker's filters, until cancelled. While not subscribed
    (Redis gone), the filters are not trusted, and they are loaded again once it is back (`SeenIds.hearing`):
    the subscription had died with the first outage, and the filters went on missing every other worker's
    commits."""
    filters = [writer.seen for writer in writers.values() if writer.seen is not None]

    async def handle(message: bytes) -> None:
        try:
            sender, stream, hashes = decode(message)
        except ValueError:
            log.warning("ingest: ignored a malformed message on %s", CHANNEL)
            return
        writer = writers.get(stream)
        if sender != origin and writer is not None and writer.seen is not None and len(hashes):
            await asyncio.to_thread(writer.seen.add, hashes)
            HEARD.labels(stream).inc(len(hashes))

    def hearing(on: bool) -> None:
        for seen in filters:
            seen.hearing(on)

    await bus_listen(bus, CHANNEL, handle, hearing, "ingest: hearing other workers' identities")
