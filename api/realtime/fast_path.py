"""Live answers already in memory, sent before Litestar routes the request.

Dashboards poll the plain view of an event (`GET /api/realtime/sales/{eventId}`, no query parameters) many
times a second, and such an answer is usually in this worker's memory for its second (cache.py). Answering it
costs little; Litestar's routing, parameter parsing and response building around it cost more than the rest
of the request together (py-spy: a cached answer through the route ran at a third of a bare Litestar
endpoint's rate). So the ASGI app the server runs puts this in front: a GET that is certainly such a hit is
answered here with the same JSON, the same key checks and the same metrics.

Certainly means: no query string; a key the worker's key cache vouches for (`KeyStore.authenticate_cached`),
with the `read` scope and the event's organizer; the event and the answer both in memory
(`LiveAnswers.from_memory`, which also schedules their background refreshes). Anything else goes to
Litestar unchanged, which answers it (401, 403, 404, 400, or the answer, filling the cache) as it always did.
"""

from __future__ import annotations

import logging
import time

from litestar import Litestar
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send
from prometheus_client import Counter

from api.auth.guards import cached_key, header_map
from api.auth.keys import Scope as KeyScope
from api.realtime.controllers import NOW, VIEWS, LiveAnswers
from api.responses import send_json
from api.system.request_metrics import record

log = logging.getLogger("tickettoken.realtime")
PREFIX = "/api/realtime/"
FAST = Counter("tickettoken_live_fast_answers", "Live answers sent from memory before routing", ["view"])


class LiveFastPath:
    """ASGI app: cached live answers from memory; every other request to `next_app`."""

    def __init__(self, app: Litestar, next_app: ASGIApp) -> None:
        self.app = app  # whose state holds the answers and keys
        self.next_app = next_app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP and scope["method"] == "GET" and scope["path"].startswith(PREFIX):
            started = time.perf_counter()
            hit = self._hit(scope)
            if hit is not None:
                view, body = hit
                await send_json(send, body)
                FAST.labels(view).inc()
                record("GET", f"{PREFIX}{view}/{{event_id}}", 200, time.perf_counter() - started)
                return
        await self.next_app(scope, receive, send)

    def _hit(self, scope: Scope) -> tuple[str, bytes] | None:
        """(view, answer) when the request is certainly a cached answer's; None to let Litestar answer."""
        if scope.get("query_string"):
            return None
        view, _, event_id = scope["path"].removeprefix(PREFIX).partition("/")
        live: LiveAnswers | None = getattr(self.app.state, "live", None)
        if view not in VIEWS or not event_id or "/" in event_id or live is None:
            return None
        try:
            key = cached_key(self.app.state, header_map(scope["headers"]), KeyScope.READ)
            body = live.from_memory(view, event_id, key, NOW) if key is not None else None
        except Exception:  # whatever it is, Litestar's own path reports it properly
            log.exception("live: the fast path failed; answering through the route")
            return None
        return (view, body) if body is not None else None
