"""Ingest throughput through the real API and warehouse, beside ceilings measured in the same run.

(a) JSON batches of 1,000 sales from 4 concurrent clients, events/s committed;
(b) single-sale requests from 64 concurrent clients, events/s with p50/p99 latency;
ceilings: clickhouse-connect inserting the same rows straight into the warehouse, and a bare Litestar
endpoint's requests/s with the same load generator. Run: `uv run python -m bench.ingest`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from api.auth.keys import KeyStore, Scope
from api.ingest.schemas import Sale
from api.ingest.streams import STREAMS
from bench.loadgen import LoadResult, run_load
from tests import factories as f
from tests.support import ApiServer, WarehouseServer, free_port, wait_for_http
from tickettoken.settings import load_settings
from warehouse.migrate import migrate
import msgspec
from dataclasses import replace

GOALS = {"batches": 150_000, "singles": 4_000, "singles_p99_ms": 50}


def sales_for(events: list[str], count: int, start: int) -> list[dict[str, object]]:
    return [f.sale(events[(start + n) % len(events)], sale_id=f"bench-{start + n}") for n in range(count)]


def report(label: str, result: LoadResult, events: int) -> float:
    bad = {status: n for status, n in result.statuses.items() if status != 200}
    if bad:
        raise SystemExit(f"{label}: non-200 answers {bad}")
    rate = events / result.seconds
    print(f"  {label:<44} {rate:>10,.0f} events/s  p50 {result.p50:6.1f} ms  p99 {result.percentile(0.99):6.1f} ms")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, default=200, help="JSON batches of 1,000 sales for (a)")
    parser.add_argument("--singles", type=int, default=20_000, help="single-sale requests for (b)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        warehouse = WarehouseServer(base / "data", free_port(), base / "warehouse.log").start()
        settings = replace(
            load_settings().warehouse,
            clickhouse_url=warehouse.url,
            password=warehouse.env()["TICKETTOKEN_CLICKHOUSE_PASSWORD"],
        )
        migrate(warehouse.client(), settings)
        key, _ = KeyStore(warehouse.client(database="tickettoken")).create({Scope.INGEST})
        api = ApiServer(warehouse, free_port(), base / "api.log").start()
        bare_port = free_port()
        bare = subprocess.Popen([sys.executable, "-m", "bench.bare_app", str(bare_port)])
        try:
            wait_for_http(f"http://127.0.0.1:{bare_port}/schema")
            headers = {"X-API-Key": key, "Content-Type": "application/json"}
            venue = f.venue()
            events = [f.event(venue["venue_id"]) for _ in range(100)]
            asyncio.run(
                run_load(
                    api.port,
                    "/api/ingest/venue",
                    [json.dumps(venue).encode()],
                    concurrency=1,
                    requests=1,
                    headers=headers,
                )
            )
            asyncio.run(
                run_load(
                    api.port,
                    "/api/ingest/event",
                    [json.dumps(events).encode()],
                    concurrency=1,
                    requests=1,
                    headers=headers,
                )
            )
            event_ids = [str(e["event_id"]) for e in events]

            batch_bodies = [json.dumps(sales_for(event_ids, 1000, i * 1000)).encode() for i in range(args.batches)]
            offset = args.batches * 1000
            single_bodies = [json.dumps(s).encode() for s in sales_for(event_ids, args.singles, offset)]

            # Ceiling for (a): the same rows straight into the warehouse with clickhouse-connect.
            rows = [msgspec.json.decode(body, type=list[Sale]) for body in batch_bodies[: max(1, args.batches // 4)]]
            direct = warehouse.client(database="tickettoken")
            direct.command("CREATE TABLE ceiling_sales AS sales")
            started = time.perf_counter()
            for chunk in rows:
                direct.insert_arrow("ceiling_sales", STREAMS["sale"].table_of(chunk))
            ceiling_rows = sum(len(c) for c in rows) / (time.perf_counter() - started)

            batches = asyncio.run(
                run_load(
                    api.port, "/api/ingest/sale", batch_bodies, concurrency=4, requests=args.batches, headers=headers
                )
            )
            singles = asyncio.run(
                run_load(
                    api.port, "/api/ingest/sale", single_bodies, concurrency=64, requests=args.singles, headers=headers
                )
            )
            bare_load = asyncio.run(
                run_load(bare_port, "/bare", single_bodies, concurrency=64, requests=args.singles, headers=headers)
            )
            stored = direct.command("SELECT count() FROM sales FINAL")
        finally:
            bare.terminate()
            Path("/tmp/api_bench.log").write_text((base / "api.log").read_text())
            api.stop()
            warehouse.stop()

    print("ingest through the API (1 worker) and the embedded warehouse:")
    a = report(f"(a) JSON batches of 1,000, 4 clients", batches, args.batches * 1000)
    b = report(f"(b) single sales, 64 clients", singles, args.singles)
    print("ceilings in the same run:")
    print(f"  {'clickhouse-connect insert_arrow, same rows':<44} {ceiling_rows:>10,.0f} rows/s")
    bare_rate = report("bare Litestar endpoint, 64 clients", bare_load, args.singles)
    print("ratios and goals:")
    print(
        f"  (a) {a / ceiling_rows:.2f} of the direct insert; goal {GOALS['batches']:,} events/s -> {'met' if a >= GOALS['batches'] else 'NOT met'}"
    )
    print(
        f"  (b) {b / bare_rate:.2f} of the bare endpoint; goal {GOALS['singles']:,}/s, p99 <= {GOALS['singles_p99_ms']} ms -> "
        f"{'met' if b >= GOALS['singles'] and singles.percentile(0.99) <= GOALS['singles_p99_ms'] else 'NOT met'}"
    )
    expected = args.batches * 1000 + args.singles + 0
    print(f"  rows stored: {stored:,} (expected {expected:,})")


if __name__ == "__main__":
    main()
