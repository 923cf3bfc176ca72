"""CORS for listed origins only (api/cors.py), driven as the server drives it: an ASGI call."""

from __future__ import annotations

import asyncio
from typing import Any

from api.cors import Cors


def _call(origins: tuple[str, ...], method: str, headers: dict[str, str]) -> tuple[int, dict[bytes, bytes], bool]:
    """(status, headers, whether the app behind was reached)."""
    reached = False

    async def app(scope: Any, receive: Any, send: Any) -> None:
        nonlocal reached
        reached = True
        await send({"type": "http.response.start", "status": 405, "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})

    sent: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        sent.append(message)

    async def receive() -> Any:
        return {"type": "http.request", "body": b""}

    scope = {"type": "http", "method": method, "path": "/api/realtime/sales/e",
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]}  # fmt: skip
    asyncio.run(Cors(app, origins)(scope, receive, send))  # type: ignore[arg-type]
    return sent[0]["status"], dict(sent[0]["headers"]), reached


def test_only_listed_origins_are_allowed_and_told_apart_for_caches() -> None:
    listed = ("https://a.example", "https://b.example")
    status, headers, reached = _call(listed, "GET", {"Origin": "https://b.example"})
    assert reached and headers[b"access-control-allow-origin"] == b"https://b.example"
    assert headers[b"vary"] == b"origin"
    status, headers, reached = _call(listed, "GET", {"Origin": "https://evil.example"})
    assert reached and b"access-control-allow-origin" not in headers
    preflight = {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    status, headers, reached = _call(listed, "OPTIONS", preflight)
    assert (status, reached) == (405, True), "not answered for an origin not listed"
    status, headers, reached = _call(listed, "OPTIONS", {**preflight, "Origin": "https://a.example"})
    assert (status, reached) == (204, False)
    assert headers[b"access-control-allow-origin"] == b"https://a.example"
