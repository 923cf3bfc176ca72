"""HEAD answered as the GET of the same URL would be, without its body (RFC 9110, 9.3.2), as Express answered it
for the old service: uptime monitors check with HEAD, and Litestar answered HEAD on every GET route with 405.

The request goes on as a GET (so /metrics counts it as one), and only the body of the answer is left out: its
status and headers, Content-Length included, are the GET's."""

from __future__ import annotations

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from api.cors import SOCKET_IO


def answer_head_as_get(app: ASGIApp) -> ASGIApp:
    """`app`, with HEAD requests handled as GETs whose answers go out without a body (but Socket.IO's: python-socketio
    answers its own methods)."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope["method"] != "HEAD" or scope["path"].startswith(SOCKET_IO):
            await app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await app({**scope, "method": "GET"}, receive, headers_only)

    return wrapped
