"""uvicorn's httptools protocol, writing a response's head together with its first body piece.

uvicorn writes the head (status line and headers) to the socket as soon as the app sends
`http.response.start`, and the body when it comes: two `send()` calls for every small answer. Under the live
views' load the two writes were over half of the time a cached answer took on the event loop (py-spy), and on
a bare ASGI app answering 1.5 kB, one write instead of two took the server from 26-33 to 23-25 µs of CPU per
request. So the head is held until the first body piece and both go in one `writelines` (one `writev`).
Everything else (the head's checks and format, keep-alive, chunking, flow control) is uvicorn's own: its
`send` runs as it is, only against a stand-in that keeps what it writes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

if TYPE_CHECKING:
    import asyncio

    from uvicorn._types import ASGI3Application, ASGISendEvent


class _Kept:
    """Stands in for the transport while uvicorn's `send` runs: keeps what it writes, and a close for after."""

    __slots__ = ("closed", "parts", "real")

    def __init__(self, real: asyncio.Transport) -> None:
        self.real = real
        self.parts: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.parts.append(data)

    def close(self) -> None:
        self.closed = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


class HeadWithBodyCycle(RequestResponseCycle):
    """A request-response cycle whose head waits for the body's first piece, to be written with it."""

    _head: list[bytes] | None = None

    async def send(self, message: ASGISendEvent) -> None:
        real = self.transport
        kept = self.transport = _Kept(real)  # type: ignore[assignment]
        try:
            await super().send(message)
        finally:
            self.transport = real
        if message["type"] == "http.response.start" and kept.parts and not kept.closed:
            self._head = kept.parts  # written with the first body piece
            return
        parts = [*(self._head or ()), *kept.parts]
        self._head = None
        if parts and not self.disconnected:
            real.writelines(parts)
        if kept.closed:
            real.close()


class HeadWithBodyProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with `HeadWithBodyCycle` for every request (pipelined ones too)."""

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: ASGI3Application) -> None:
        cycle.__class__ = HeadWithBodyCycle  # the same object, created by uvicorn; only `send` differs
        super()._start_asgi_task(cycle, app)
