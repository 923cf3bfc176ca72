"""A small HTTP/1.1 keep-alive load generator (an asyncio protocol, on uvloop through `run`): cheap enough per
request that it measures the server more than itself. Every benchmark that compares against a ceiling drives both
with this same client.

It shares this machine's two cores with what it measures, so its own CPU matters: against the bare Litestar
endpoint it took 92-123 µs a request as asyncio streams read line by line on the default loop, and 71-79 µs
parsing each response in one pass on uvloop (four loads each, GET and POST)."""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import uvloop

T = TypeVar("T")


@dataclass
class LoadResult:
    requests: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    cores: tuple[float, ...] = ()  # CPU cores each observed process used while the load ran

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def percentile(self, share: float) -> float:
        return percentile_ms(self.latencies, share)

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies) * 1000


def percentile_ms(seconds: Sequence[float], share: float) -> float:
    """The `share` percentile of durations in seconds, in milliseconds (NaN for none)."""
    ordered = sorted(seconds)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))] * 1000 if ordered else float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds process `pid` has used so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_until_idle(pid: int, *, below: float = 0.05, window: float = 0.5, limit: float = 60.0) -> float:
    """Wait until process `pid` uses under `below` of a core over `window` seconds (at most `limit` seconds);
    the seconds waited. Before a load, so that it does not pay for the merges the load before it left behind."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        before = cpu_seconds(pid)
        time.sleep(window)
        if (cpu_seconds(pid) - before) / window < below:
            break
    return time.monotonic() - started


class _Exchange(asyncio.Protocol):
    """One keep-alive connection: each response is parsed in one pass once all of it has arrived."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.lost: Exception | None = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.waiter is None:
            return
        parsed = _response(self.buffer)
        if parsed is None:
            return
        status, body, used = parsed
        del self.buffer[:used]
        waiter, self.waiter = self.waiter, None
        waiter.set_result((status, body))

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = exc or ConnectionError("the server closed the connection")
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(self.lost)


def _response(buffer: bytearray) -> tuple[int, bytes, int] | None:
    """(status, body, bytes used) of the HTTP/1.1 response at the start of `buffer`; None while incomplete."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = bytes(buffer[:end]).lower()
    status, start = int(head[9:12]), end + 4
    at = head.find(b"\r\ncontent-length:")
    if at >= 0:
        line_end = head.find(b"\r\n", at + 2)
        length = int(head[at + 17 : line_end if line_end >= 0 else len(head)])
        body: tuple[bytes, int] | None = (
            (bytes(buffer[start : start + length]), start + length) if len(buffer) >= start + length else None
        )
    elif b"\r\ntransfer-encoding: chunked" in head:
        body = _chunked(buffer, start)
    else:
        body = (b"", start)
    return None if body is None else (status, *body)


def _chunked(buffer: bytearray, at: int) -> tuple[bytes, int] | None:
    """(body, bytes used) of a chunked body starting at `at`; None while incomplete."""
    parts: list[bytes] = []
    while True:
        line_end = buffer.find(b"\r\n", at)
        if line_end < 0:
            return None
        size = int(buffer[at:line_end], 16)
        if len(buffer) < line_end + 2 + size + 2:
            return None
        if size == 0:
            return b"".join(parts), line_end + 4
        parts.append(bytes(buffer[line_end + 2 : line_end + 2 + size]))
        at = line_end + 2 + size + 2


class Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.transport: asyncio.Transport | None = None
        self.exchange: _Exchange | None = None

    async def request(self, path: str, body: bytes, headers: dict[str, str], method: str = "POST") -> tuple[int, bytes]:
        loop = asyncio.get_running_loop()
        if self.transport is None or self.exchange is None or self.exchange.lost is not None:
            self.transport, self.exchange = await loop.create_connection(_Exchange, self.host, self.port)
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Length: {len(body)}\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        waiter: asyncio.Future[tuple[int, bytes]] = loop.create_future()
        self.exchange.waiter = waiter
        self.transport.write(head.encode() + b"\r\n" + body)
        return await waiter

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def run(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run` on uvloop (the loop the measured servers run on too): less of the shared cores per request."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


async def run_load(
    port: int,
    path: str | Sequence[str],
    bodies: Sequence[bytes] | Callable[[int], bytes],
    *,
    concurrency: int,
    requests: int,
    headers: dict[str, str],
    host: str = "127.0.0.1",
    method: str = "POST",
    watch: Sequence[int] = (),
) -> LoadResult:
    """Send `requests` requests over `concurrency` keep-alive connections; request i goes to `path` (or path[i])
    with body i, bodies[i] (or bodies(i)). `cores` holds the cores each process of `watch` used meanwhile."""
    body_of = bodies if callable(bodies) else bodies.__getitem__
    path_of = (lambda _: path) if isinstance(path, str) else path.__getitem__
    counter = iter(range(requests))
    result = LoadResult(requests=requests, seconds=0.0)

    async def worker() -> None:
        connection = Connection(host, port)
        try:
            for index in counter:
                body = body_of(index)
                started = time.perf_counter()
                status, _ = await connection.request(path_of(index), body, headers, method)
                result.latencies.append(time.perf_counter() - started)
                result.statuses[status] = result.statuses.get(status, 0) + 1
        finally:
            connection.close()

    before = [cpu_seconds(pid) for pid in watch]
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.seconds = time.perf_counter() - started
    result.cores = tuple((cpu_seconds(pid) - b) / result.seconds for pid, b in zip(watch, before, strict=True))
    return result
