"""The API's HTTP protocol: a response's head goes out in the same write as its first body piece, framed and
closed exactly as uvicorn frames and closes it."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from api.http_protocol import HeadWithBodyCycle


class RecordingTransport:
    """What a cycle wrote, call by call: ("write" | "writelines", bytes) and ("close", b"")."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, bytes]] = []

    def write(self, data: bytes) -> None:
        self.calls.append(("write", data))

    def writelines(self, parts: list[bytes]) -> None:
        self.calls.append(("writelines", b"".join(parts)))

    def close(self) -> None:
        self.calls.append(("close", b""))

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0


def _cycle(transport: RecordingTransport, *, keep_alive: bool = True) -> RequestResponseCycle:
    cycle = RequestResponseCycle(
        scope={"type": "http", "method": "GET", "http_version": "1.1"},  # type: ignore[typeddict-item]
        transport=transport,  # type: ignore[arg-type]
        flow=FlowControl(transport),  # type: ignore[arg-type]
        logger=logging.getLogger("test"),
        access_logger=logging.getLogger("test.access"),
        access_log=False,
        default_headers=[],
        message_event=asyncio.Event(),
        expect_100_continue=False,
        keep_alive=keep_alive,
        on_response=lambda: None,
    )
    cycle.__class__ = HeadWithBodyCycle
    return cycle


def _start(*headers: tuple[bytes, bytes]) -> Any:
    return {"type": "http.response.start", "status": 200, "headers": list(headers)}


def _body(body: bytes, *, more: bool = False) -> Any:
    return {"type": "http.response.body", "body": body, "more_body": more}


def _sent(cycle: RequestResponseCycle, *messages: Any) -> None:
    async def send_all() -> None:
        for message in messages:
            await cycle.send(message)

    asyncio.run(send_all())


def test_head_and_body_are_one_write() -> None:
    transport = RecordingTransport()
    cycle = _cycle(transport)
    _sent(cycle, _start((b"content-type", b"application/json"), (b"content-length", b"7")))
    assert transport.calls == []  # the head waits for the body
    _sent(cycle, _body(b'{"a":1}'))
    assert transport.calls == [
        ("writelines", b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 7\r\n\r\n{"a":1}')
    ]
    assert cycle.response_complete


def test_a_streamed_body_sends_its_head_with_the_first_chunk_and_the_rest_as_it_comes() -> None:
    transport = RecordingTransport()
    _sent(_cycle(transport), _start(), _body(b"one", more=True), _body(b"two", more=True), _body(b""))  # chunked
    assert transport.calls == [
        ("writelines", b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\none\r\n"),
        ("writelines", b"3\r\ntwo\r\n"),
        ("writelines", b"0\r\n\r\n"),
    ]


def test_a_connection_not_kept_alive_closes_after_the_answer_is_written() -> None:
    transport = RecordingTransport()
    _sent(_cycle(transport, keep_alive=False), _start((b"content-length", b"2")), _body(b"ok"))
    assert transport.calls == [
        ("writelines", b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"),
        ("close", b""),
    ]


def test_nothing_is_written_once_the_client_is_gone() -> None:
    transport = RecordingTransport()
    cycle = _cycle(transport)
    _sent(cycle, _start((b"content-length", b"2")))
    cycle.disconnected = True
    _sent(cycle, _body(b"ok"))
    assert transport.calls == []
