"""Small JSON bodies of facts, committed before Litestar routes the request.

A platform sends each sale and gate scan as it happens: many small JSON bodies a second. Litestar's routing,
middleware, parameter parsing and response building around one cost about as much as decoding, checking and
committing its record (py-spy: the route's machinery was over a third of a single sale's time). So the ASGI
app the server runs puts this in front: a request that is certainly a clean small body of facts is committed
here, through the same service and writer as the route's, with the same answer, key checks and metrics.

Certainly means: `POST /api/ingest/{sale,attendance,revenue,social}` with no query string (so no `partial`),
`Content-Type: application/json` with no Content-Encoding, a Content-Length within 64 KiB and the body limit; a
key the worker's key cache vouches for with the `ingest` scope; records that decode and pass every check with
what this worker has in memory (`IngestService.clean_json`). Everything else goes to Litestar with the body as
read, which answers it as it always did: errors, NDJSON, Arrow, compressed bodies, catalog streams, and a commit
that failed here (queue full, warehouse down), which the route tries once more before it answers 429 or 503.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

import msgspec
from litestar import Litestar
from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPRequestEvent, Receive, ReceiveMessage, Scope, Send
from prometheus_client import Counter

from api.auth.guards import cached_key, header_map
from api.auth.keys import Scope as KeyScope
from api.ingest.request_body import CLIENT_GONE, ClientGone, read_body
from api.ingest.schemas import IngestResult
from api.ingest.services import INLINE_DECODE_BYTES, IngestService
from api.responses import send_json
from api.system.request_metrics import record

log = logging.getLogger("tickettoken.ingest")
PREFIX = "/api/ingest/"
FAST = Counter("tickettoken_ingest_fast", "Small JSON ingest requests committed before routing", ["stream"])


class IngestFastPath:
    """ASGI app: clean small JSON bodies of facts committed here; every other request to `next_app`."""

    def __init__(self, app: Litestar, next_app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app  # whose state holds the ingest service and the keys
        self.next_app = next_app
        self.max_bytes = min(INLINE_DECODE_BYTES, max_body_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not (scope["type"] == ScopeType.HTTP and scope["method"] == "POST" and scope["path"].startswith(PREFIX)):
            await self.next_app(scope, receive, send)
            return
        started = time.perf_counter()
        stream = scope["path"].removeprefix(PREFIX)
        service: IngestService | None = getattr(self.app.state, "ingest", None)
        headers = header_map(scope["headers"])
        if service is None or scope.get("query_string") or not self._fits(headers):
            await self.next_app(scope, receive, send)
            return
        try:
            body = await read_body(receive, self.max_bytes)
        except ClientGone:  # before it had sent it all
            record("POST", scope["path"], CLIENT_GONE, time.perf_counter() - started)
            return
        answer = await self._commit(service, stream, body, headers)
        if answer is None:
            await self.next_app(scope, _replay(body, receive), send)
            return
        await send_json(send, answer)
        FAST.labels(stream).inc()
        record("POST", scope["path"], 200, time.perf_counter() - started)

    def _fits(self, headers: Mapping[bytes, bytes]) -> bool:
        """An uncompressed JSON body of a known small size."""
        media_type = headers.get(b"content-type", b"").partition(b";")[0].strip().lower()
        length = headers.get(b"content-length", b"")
        plain = headers.get(b"content-encoding", b"identity").strip().lower() == b"identity"
        return media_type == b"application/json" and plain and length.isdigit() and int(length) <= self.max_bytes

    async def _commit(
        self, service: IngestService, stream: str, body: bytes, headers: Mapping[bytes, bytes]
    ) -> bytes | None:
        """The answer's JSON once the records are committed; None when the route must answer instead."""
        try:
            key = cached_key(self.app.state, headers, KeyScope.INGEST)
            records = service.clean_json(stream, body, key) if key is not None else None
            if records is None:
                return None
            flags = await service.writers[stream].submit(records)
        except Exception:  # the route tries again and answers whatever it is (429, 503, ...)
            log.debug("ingest: the fast path could not commit; answering through the route", exc_info=True)
            return None
        accepted = sum(flags)
        return msgspec.json.encode(IngestResult(accepted=accepted, duplicates=len(flags) - accepted, rejected=0))


def _replay(body: bytes, receive: Receive) -> Receive:
    """`receive` for the route: the body already read, then whatever comes next (a disconnect)."""
    replayed = False

    async def again() -> ReceiveMessage:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        whole: HTTPRequestEvent = {"type": "http.request", "body": body, "more_body": False}
        return whole

    return again
