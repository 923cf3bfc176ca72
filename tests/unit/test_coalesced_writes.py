"""One write per small response (tickettoken/coalesced_writes.py): what a turn of the event loop writes reaches the
socket once, at the end of the turn; large writes go at once; closing writes what is held first."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from tickettoken.coalesced_writes import FLUSH_BYTES, CoalescingHttpToolsProtocol, CoalescingTransport


class Recording(asyncio.Transport):
    """A socket's transport that keeps what it is given, one entry per write."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 3009)}.get(name, default)

    def get_write_buffer_size(self) -> int:
        return 0


def in_loop(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run the async test on an event loop of its own."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return run


async def _turn() -> None:
    """Let the loop finish the current turn (and run what it scheduled for the next)."""
    await asyncio.sleep(0)
    await asyncio.sleep(0)


@in_loop
async def test_the_writes_of_one_turn_reach_the_socket_once_at_its_end() -> None:
    inner = Recording()
    transport = CoalescingTransport(inner, asyncio.get_running_loop())
    transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    transport.write(b"{}")
    assert inner.writes == [] and transport.get_write_buffer_size() == 40
    await _turn()
    assert inner.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]
    transport.write(bytearray(b"next"))
    await _turn()
    assert inner.writes[1:] == [b"next"]


@in_loop
async def test_a_large_write_goes_at_once_and_closing_writes_what_is_held_first() -> None:
    inner = Recording()
    transport = CoalescingTransport(inner, asyncio.get_running_loop())
    transport.write(b"head")
    transport.write(b"x" * FLUSH_BYTES)
    assert inner.writes == [b"head" + b"x" * FLUSH_BYTES], "nothing waits for the turn's end past FLUSH_BYTES"
    transport.write(b"tail")
    transport.close()
    assert inner.writes[1:] == [b"tail"] and inner.closed
    await _turn()
    assert len(inner.writes) == 2, "the flush the turn had scheduled found nothing left"


@in_loop
async def test_nothing_is_written_to_a_connection_that_is_gone_or_aborted() -> None:
    inner = Recording()
    transport = CoalescingTransport(inner, asyncio.get_running_loop())
    transport.write(b"answer")
    inner.closed = True  # the peer left before the turn ended
    await _turn()
    transport.write(b"more")
    transport.abort()
    await _turn()
    assert inner.writes == []


async def _answer_one_request(protocol_class: type[HttpToolsProtocol], body: bytes) -> list[bytes]:
    """The writes uvicorn's protocol makes to answer one GET with `body` (an app sending start, then body)."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    config = uvicorn.Config(app, lifespan="off", log_config=None)
    config.load()
    protocol = protocol_class(config, ServerState(), {}, asyncio.get_running_loop())
    inner = Recording()
    protocol.connection_made(inner)
    protocol.data_received(b"GET /api/realtime/sales/e1 HTTP/1.1\r\nhost: x\r\n\r\n")
    for _ in range(10):
        await _turn()
    return inner.writes


@pytest.mark.parametrize("body", [b'{"tickets":1}', b"[" + b"0," * 3000 + b"0]"])
@in_loop
async def test_uvicorn_answers_a_request_in_one_write_on_the_coalescing_protocol(body: bytes) -> None:
    plain = await _answer_one_request(HttpToolsProtocol, body)
    coalesced = await _answer_one_request(CoalescingHttpToolsProtocol, body)
    assert len(plain) == 2, "uvicorn's own protocol writes the head and the body apart"
    assert coalesced == [b"".join(plain)]
    assert coalesced[0].startswith(b"HTTP/1.1 200 OK\r\n") and coalesced[0].endswith(body)
