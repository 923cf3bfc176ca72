"""Loading a market through the service's own ingest endpoints: the catalog as JSON, the facts as Arrow IPC
stream bodies (the backfill path), with a progress bar per stream and retries on 429/503."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pyarrow as pa
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from api.ingest.media_types import ARROW, JSON
from simulator.market import Market
from tickettoken.ingest_client import Answer, arrow_body, post_body

ROWS_PER_BODY = 100_000


def _slices(table: pa.Table, rows: int) -> Iterator[pa.Table]:
    for start in range(0, table.num_rows, rows):
        yield table.slice(start, rows)


def load(market: Market, url: str, key: str, *, show_progress: bool = True, concurrency: int = 2) -> dict[str, Answer]:
    """Send the whole market; per stream, what the service accepted and what it already had."""
    results: dict[str, Answer] = {}
    columns = [TextColumn("{task.description:<10}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with (
        httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=600) as client,
        Progress(*columns, disable=not show_progress) as progress,
        ThreadPoolExecutor(concurrency) as pool,
    ):
        for stream, records, size in (("venue", market.venues, 1000), ("event", market.events, 500)):
            task = progress.add_task(stream, total=len(records))
            results[stream] = Answer()
            for start in range(0, len(records), size):
                part = records[start : start + size]
                results[stream].add(post_body(client, stream, httpx.Request("POST", "/", json=part).content, JSON))
                progress.advance(task, len(part))
        for stream, table in market.streams().items():
            task = progress.add_task(stream, total=table.num_rows)
            results[stream] = Answer()

            def send(part: pa.Table, stream: str = stream, task: int = task) -> Answer:
                done = post_body(client, stream, arrow_body(part), ARROW)
                progress.advance(task, part.num_rows)  # type: ignore[arg-type]
                return done

            for done in pool.map(send, _slices(table, ROWS_PER_BODY)):
                results[stream].add(done)
    return results
