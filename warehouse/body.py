"""Reading a request body: decoded in worker threads, in pieces, never whole unless it is the query."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from warehouse.codecs import BodyDecoder
from warehouse.errors import BAD_ARGUMENTS, WarehouseError
from warehouse.sql_text import InlineInsert, find_inline_insert

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]

PIECE_BYTES = 1 << 20  # raw bytes gathered before one decode and one append to the engine
MAX_QUERY_BODY_BYTES = 256 << 20  # a body that is the query itself, not streamed insert data


class ClientGone(Exception):
    """The client closed the connection before the request was done."""


async def _raw_chunks(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        body: bytes = message.get("body", b"")
        if body:
            yield body
        if not message.get("more_body", False):
            return


async def decoded_pieces(receive: Receive, decoder: BodyDecoder) -> AsyncIterator[bytes]:
    """The body as plain bytes, in pieces of about PIECE_BYTES (decompressed in a worker thread; a body sent
    uncompressed needs no thread, and each hop to one costs a small INSERT a tenth of a millisecond)."""

    async def decoded(data: bytes) -> bytes:
        return data if decoder.is_identity else await asyncio.to_thread(decoder.decode, data)

    pending: list[bytes] = []
    size = 0
    async for chunk in _raw_chunks(receive):
        pending.append(chunk)
        size += len(chunk)
        if size >= PIECE_BYTES:
            yield await decoded(b"".join(pending))
            pending, size = [], 0
    tail = await decoded(b"".join(pending))
    decoder.finish()
    if tail:
        yield tail


async def read_limited(pieces: AsyncIterator[bytes], what: str, head: bytes = b"") -> bytes:
    """The rest of a body that must be held whole (a query, a form): 413 past MAX_QUERY_BODY_BYTES."""
    parts = [head]
    size = len(head)
    async for piece in pieces:
        size += len(piece)
        if size > MAX_QUERY_BODY_BYTES:
            raise WarehouseError(BAD_ARGUMENTS, f"{what} over {MAX_QUERY_BODY_BYTES} bytes", http_status=413)
        parts.append(piece)
    return b"".join(parts)


@dataclass
class BodyStatement:
    """What a request body holds: a statement with rows to stream after it, or a statement alone."""

    sql: str
    insert: InlineInsert | None
    data_head: bytes
    rest: AsyncIterator[bytes]


async def read_statement(query_param: str | None, pieces: AsyncIterator[bytes]) -> BodyStatement:
    """Split the body into SQL and (for `INSERT ... FORMAT X`) the rows that follow it.

    The statement is the `query` parameter followed by the body, as ClickHouse joins them. A body that
    starts with `INSERT ... FORMAT X` (how clickhouse-connect sends inserts) is streamed, not held.
    """
    head = b""
    complete = False
    if not query_param:
        while True:
            found = find_inline_insert(head, complete=complete)
            if isinstance(found, InlineInsert):
                return BodyStatement(found.statement, found, head[found.data_offset :], pieces)
            if found is None:
                break
            try:
                head += await anext(pieces)
            except StopAsyncIteration:
                complete = True
    raw = await read_limited(pieces, "Query body", head)
    try:
        body = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise WarehouseError(BAD_ARGUMENTS, f"Query text is not UTF-8 (byte {error.start})") from None
    sql = query_param + "\n" + body if query_param and body else query_param or body
    if not sql.strip():
        raise WarehouseError(BAD_ARGUMENTS, "Empty query")
    return BodyStatement(sql, None, b"", pieces)
