"""Browsers' cross-origin requests (CORS), for dashboards served from another origin than the API's. In front
of the whole app, so that the fast paths' answers carry the headers as Litestar's routes' do, and a preflight
is answered without a key (browsers send none with it). Keys travel in headers, never in cookies, so no
credentials are allowed. Socket.IO answers its own (python-socketio's `cors_allowed_origins`, the same setting).
"""

from __future__ import annotations

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

SOCKET_IO = "/socket.io"
_ALLOW_HEADERS = b"x-api-key, authorization, content-type, content-encoding"
_ALLOW_METHODS = b"GET, POST, OPTIONS"
_MAX_AGE = b"600"  # seconds a browser may reuse a preflight's answer
_EXPOSE = b"retry-after"  # 429 and 503 say when to try again


class Cors:
    """ASGI: CORS headers on answers to allowed origins (every origin with `*`), preflights answered here."""

    def __init__(self, app: ASGIApp, origins: tuple[str, ...]) -> None:
        self.app = app
        self.any = "*" in origins
        self.origins = frozenset(origin.encode() for origin in origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope["path"].startswith(SOCKET_IO):
            await self.app(scope, receive, send)
            return
        origin = preflight = None
        for name, value in scope["headers"]:
            if name == b"origin":
                origin = value
            elif name == b"access-control-request-method":
                preflight = value
        if origin is None or not (self.any or origin in self.origins):
            await self.app(scope, receive, send)
            return
        allowed = [(b"access-control-allow-origin", b"*" if self.any else origin)]
        if not self.any:
            allowed.append((b"vary", b"origin"))
        if scope["method"] == "OPTIONS" and preflight is not None:
            headers = [*allowed, (b"access-control-allow-methods", _ALLOW_METHODS),
                       (b"access-control-allow-headers", _ALLOW_HEADERS), (b"access-control-max-age", _MAX_AGE),
                       (b"content-length", b"0")]  # fmt: skip
            await send({"type": "http.response.start", "status": 204, "headers": headers})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        allowed.append((b"access-control-expose-headers", _EXPOSE))

        async def send_allowed(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), *allowed]}
            await send(message)

        await self.app(scope, receive, send_allowed)
