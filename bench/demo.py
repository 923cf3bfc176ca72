"""The demo market: generating and loading 1,000 events (about 5 million sales) through the API, timed, beside
the warehouse's raw insert rate for the same sales measured in the same run. Goal: at most 2 minutes.
Run: `uv run python -m bench.demo [--events N]`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from api.auth.keys import Scope
from api.ingest.columnar import clean_facts
from api.ingest.rules import TimeWindow, utc_now
from api.ingest.streams import STREAMS
from api.ingest.writer import INSERT_SETTINGS
from bench.stack import api_stack
from simulator.loader import ROWS_PER_BODY, load
from simulator.market import Market, generate
from simulator.params import MarketParams
from tests.support import WarehouseServer
from tickettoken.ingest_client import arrow_body

GOAL_SECONDS = 120.0


def raw_insert_rate(warehouse: WarehouseServer, market: Market) -> float:
    """A ceiling: clickhouse-connect inserting the same fact rows (as the API writes them), in bodies of the
    same size, straight into copies of the tables."""
    client = warehouse.client(database="tickettoken")
    window = TimeWindow(timedelta(days=3650), timedelta(hours=24), timedelta(days=1095))
    bodies: list[tuple[str, bytes, int]] = []
    for stream, table in market.streams().items():
        target = f"raw_{STREAMS[stream].table}"
        client.command(f"CREATE TABLE IF NOT EXISTS {target} AS {STREAMS[stream].table}")
        for start in range(0, table.num_rows, ROWS_PER_BODY):
            clean = clean_facts(stream, table.slice(start, ROWS_PER_BODY), window, utc_now())
            if clean is None:
                raise SystemExit(f"{stream}: the simulator made rows the columnar path does not take")
            bodies.append((target, arrow_body(clean), clean.num_rows))
    started = time.perf_counter()
    for target, body, _ in bodies:
        client.raw_insert(target, insert_block=body, fmt="ArrowStream", settings=INSERT_SETTINGS)
    return sum(rows for _, _, rows in bodies) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, api_stack(Path(tmp)) as (warehouse, api, store):
        key, _ = store.create({Scope.INGEST})
        started = time.perf_counter()
        market = generate(MarketParams(events=args.events))
        generated = time.perf_counter() - started
        loaded = load(market, api.url, key, show_progress=False)
        total = time.perf_counter() - started
        raw = raw_insert_rate(warehouse, market)
    rows = sum(t.num_rows for t in market.streams().values())
    print(
        f"demo market of {args.events:,} events: "
        + ", ".join(f"{t.num_rows:,} {n}" for n, t in market.streams().items())
    )
    print(
        f"  generated in {generated:.1f} s; generated and loaded in {total:.1f} s: {rows / total:,.0f} rows/s overall"
    )
    print(f"  loading alone: {rows / (total - generated):,.0f} rows/s")
    print(f"  ceiling: the same rows inserted straight into the warehouse, one body at a time: {raw:,.0f} rows/s")
    print(f"  loading / raw insert: {rows / (total - generated) / raw:.2f}")
    accepted = {n: r.accepted for n, r in loaded.items()}
    print(f"  accepted: {accepted}")
    met = "met" if total <= GOAL_SECONDS else "NOT met"
    print(f"  goal: at most {GOAL_SECONDS:.0f} s: {met}")


if __name__ == "__main__":
    main()
