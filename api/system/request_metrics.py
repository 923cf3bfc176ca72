"""Per-request Prometheus metrics, kept cheap: a small request's whole handling is a fraction of a millisecond.

Litestar's own Prometheus middleware builds a Request, a label dict and three `labels()` lookups (each under a
lock) per request, about a fifth of a single-sale ingest's time here. This one keeps the labelled children of
each (method, route, status) and does one dictionary lookup per request. Routes are labelled by their path
template (`/api/realtime/sales/{eventId}`), so ids in paths do not multiply the series. It wraps the app rather
than being a Litestar middleware, which runs only for requests that found their route: 404s and 405s (a
scanner, a client on a wrong path) went uncounted. Those are labelled `(unmatched)`.
"""

from __future__ import annotations

import time
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import Counter, Histogram

REQUESTS = Counter("tickettoken_requests", "HTTP requests answered", ["method", "path", "status_code"])
ERRORS = Counter("tickettoken_requests_error", "HTTP requests answered with a 5xx", ["method", "path", "status_code"])
DURATION = Histogram(
    "tickettoken_request_duration_seconds",
    "Time from a request's arrival until its response was sent",
    ["method", "path"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
UNMATCHED = "(unmatched)"
_Children = tuple[Any, Any, Any | None]
_children: dict[tuple[str, str, int], _Children] = {}


def _children_of(method: str, path: str, status: int) -> _Children:
    key = (method, path, status)
    found = _children.get(key)
    if found is None:
        error = ERRORS.labels(method, path, str(status)) if status >= 500 else None
        found = _children[key] = (REQUESTS.labels(method, path, str(status)), DURATION.labels(method, path), error)
    return found


def request_metrics(app: ASGIApp) -> ASGIApp:
    """`app` (Litestar), counting and timing every HTTP request but those for /metrics itself."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope["path"] == "/metrics":
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # if the handler fails before answering, the server answers 500

        async def timed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await app(scope, receive, timed_send)
        finally:
            record(scope["method"], _route_of(scope), status, time.perf_counter() - started)

    return middleware


def _route_of(scope: Scope) -> str:
    """The path template Litestar's router set in the scope; a mounted app's (Socket.IO) is empty, so its mount
    path is used instead."""
    template = scope.get("path_template")
    if template:
        return str(template)
    handler = scope.get("route_handler")
    return min(handler.paths) if handler is not None else UNMATCHED


def record(method: str, path_template: str, status: int, seconds: float) -> None:
    """Count and time one answered request."""
    count, duration, error = _children_of(method, path_template, status)
    count.inc()
    duration.observe(seconds)
    if error is not None:
        error.inc()
