"""A small HTTP/1.1 keep-alive load generator on asyncio streams: cheap enough per request that it measures
the server, not itself. Every benchmark that compares against a ceiling drives both with this same client."""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path


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


class Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, path: str, body: bytes, headers: dict[str, str], method: str = "POST") -> tuple[int, bytes]:
        if self.writer is None or self.reader is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Length: {len(body)}\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self.writer.write(head.encode() + b"\r\n" + body)
        status_line = await self.reader.readline()
        status = int(status_line.split(b" ", 2)[1])
        length = 0
        chunked = False
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
            elif name.lower() == "transfer-encoding" and "chunked" in value:
                chunked = True
        if chunked:
            parts = []
            while (size := int((await self.reader.readline()).strip(), 16)) > 0:
                parts.append(await self.reader.readexactly(size))
                await self.reader.readline()
            await self.reader.readline()
            return status, b"".join(parts)
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


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
