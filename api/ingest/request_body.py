"""An ingest request's body, read within the size limit, noticing a client that went away.

Litestar's own reader answered a body over the limit with a bare "Request Entity Too Large", and a client that
disconnected while sending (a feed's timeout, a dropped connection) with a 500 and a traceback in the API's log:
counted in /metrics as a fault of the API's, for what was the client's doing.
"""

from __future__ import annotations

from litestar.types import Receive

# nginx's "client closed request": what /metrics counts for a request whose client left before it was answered.
CLIENT_GONE = 499


class BodyTooLarge(Exception):
    """The body is over the size limit: 413."""


class ClientGone(Exception):
    """The client disconnected before it had sent its whole body: there is no one to answer."""


async def read_body(receive: Receive, limit: int, declared: int | None = None) -> bytes:
    """The whole body; BodyTooLarge as soon as it (or its declared length, before reading) is over `limit` bytes:
    a chunked body declares none, so the bytes are counted as they come."""
    too_large = f"the body is over the limit of {limit} bytes"
    if declared is not None and declared > limit:
        raise BodyTooLarge(too_large)  # before reading: a client waiting for `100 Continue` sends nothing
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(too_large)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
