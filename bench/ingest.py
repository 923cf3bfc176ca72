"""Ingest throughput through the real API (one worker) and warehouse, beside ceilings from the same run.

(a) JSON batches of 1,000 sales from 4 concurrent clients, events/s committed;
(b) single-sale requests from 64 concurrent clients, events/s with p50/p99 latency;
(c) Arrow IPC stream bodies of 100,000 sales, 2 concurrent clients, rows/s;
ceilings: clickhouse-connect inserting the same rows straight into the warehouse, and a bare Litestar
endpoint's requests/s under the same load generator. Each load and each ceiling starts once the warehouse is
idle (under 0.05 of a core), so that none pays for the merges of the one before it; a load's own merges, while
it runs, count. Run: `uv run python -m bench.ingest`.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import msgspec
import pyarrow as pa

from api.auth.keys import KeyStore, Scope
from api.ingest.schemas import Sale
from api.ingest.streams import STREAMS
from api.ingest.writer import INSERT_SETTINGS
from bench.loadgen import LoadResult, run, run_load, wait_until_idle
from bench.stack import api_stack, bare_app
from tests import factories as f
from tests.support import ApiServer, WarehouseServer

GOAL_BATCHES = 150_000  # events/s
GOAL_SINGLES = 4_000  # events/s per API worker
GOAL_SINGLES_P99_MS = 50.0
GOAL_ARROW = 1_000_000  # rows/s
ARROW_ROWS = 100_000  # rows per Arrow body


@dataclass
class Figures:
    batches: LoadResult
    singles: LoadResult
    arrow: LoadResult
    bare: LoadResult
    direct_rows_per_second: float
    direct_shared_rows_per_second: float
    direct_arrow_rows_per_second: float
    stored: int
    idle_waits: list[float]  # seconds each load through the API waited for the warehouse to be idle


def sales_for(events: list[str], count: int, start: int) -> list[dict[str, object]]:
    return [f.sale(events[(start + n) % len(events)], sale_id=f"bench-{start + n}") for n in range(count)]


def arrow_bodies(events: list[str], count: int, start: int) -> list[bytes]:
    """Arrow IPC streams of ARROW_ROWS sales each, columns named as the JSON fields."""
    bodies = []
    for number in range(count):
        sales = sales_for(events, ARROW_ROWS, start + number * ARROW_ROWS)
        table = (
            STREAMS["sale"]
            .table_of(msgspec.convert(sales, list[Sale], strict=False))
            .drop_columns([name for name in STREAMS["sale"].table_of([]).column_names if name.startswith("buyer_")])
        )
        # Money as a platform would send it in Arrow: decimal128(12, 2).
        price = table.schema.get_field_index("unit_price")
        table = table.set_column(price, "unit_price", table["unit_price"].cast(pa.decimal128(12, 2)))
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        bodies.append(sink.getvalue().to_pybytes())
    return bodies


def direct_insert_rate(warehouse: WarehouseServer, tables: list[pa.Table]) -> float:
    """A ceiling: the same rows into a copy of `sales` with clickhouse-connect and the writer's insert
    settings, one INSERT after another, no API; uncompressed, as the API sends on loopback (warehouse/client.py)."""
    client = warehouse.client(database="tickettoken", compress=False)
    client.command("CREATE TABLE IF NOT EXISTS ceiling_sales AS sales")
    wait_until_idle(warehouse.pid)  # as before the loads through the API
    started = time.perf_counter()
    for table in tables:
        client.insert_arrow("ceiling_sales", table, settings=INSERT_SETTINGS)
    rows: int = sum(t.num_rows for t in tables)
    return rows / (time.perf_counter() - started)


def measure(args: argparse.Namespace, base: Path) -> Figures:
    with api_stack(base) as (warehouse, api, store), bare_app() as bare_port:
        return _measure(args, warehouse, api, store, bare_port)


def _measure(
    args: argparse.Namespace, warehouse: WarehouseServer, api: ApiServer, store: KeyStore, bare_port: int
) -> Figures:
    key, _ = store.create({Scope.INGEST})
    headers = {"X-API-Key": key, "Content-Type": "application/json"}
    idle_waits: list[float] = []

    def load(port: int, path: str, bodies: list[bytes], concurrency: int, kind: str = "application/json") -> LoadResult:
        """One load, with the cores the API and the warehouse used while it ran; it starts once the warehouse is
        idle, so that it does not pay for the merges of the load before it."""
        idle_waits.append(wait_until_idle(warehouse.pid))
        return run(
            run_load(
                port,
                path,
                bodies,
                concurrency=concurrency,
                requests=len(bodies),
                headers={**headers, "Content-Type": kind},
                watch=(api.pid, warehouse.pid) if port == api.port else (),
            )
        )

    venue = f.venue()
    events = [f.event(venue["venue_id"]) for _ in range(100)]
    load(api.port, "/api/ingest/venue", [json.dumps(venue).encode()], 1)
    load(api.port, "/api/ingest/event", [json.dumps(events).encode()], 1)
    event_ids = [str(e["event_id"]) for e in events]
    batch_bodies = [json.dumps(sales_for(event_ids, 1000, i * 1000)).encode() for i in range(args.batches)]
    singles = sales_for(event_ids, args.singles, args.batches * 1000)
    single_bodies = [json.dumps(sale).encode() for sale in singles]

    arrow = arrow_bodies(event_ids, args.arrow_bodies, args.batches * 1000 + args.singles)

    json_tables = [
        STREAMS["sale"].table_of(msgspec.json.decode(body, type=list[Sale]))
        for body in batch_bodies[: max(1, args.batches // 4)]
    ]
    direct = direct_insert_rate(warehouse, json_tables)
    # The largest INSERT (a) can make: all 4 clients' batches at once.
    direct_shared = direct_insert_rate(
        warehouse, [pa.concat_tables(json_tables[i : i + 4]) for i in range(0, len(json_tables) - 3, 4)]
    )
    direct_arrow = direct_insert_rate(warehouse, [pa.ipc.open_stream(body).read_all() for body in arrow[:6]])
    batches = load(api.port, "/api/ingest/sale", batch_bodies, 4)
    single = load(api.port, "/api/ingest/sale", single_bodies, 64)
    arrow_load = load(api.port, "/api/ingest/sale", arrow, 2, "application/vnd.apache.arrow.stream")
    bare_load = load(bare_port, "/bare", single_bodies, 64)
    stored = int(warehouse.client(database="tickettoken").command("SELECT count() FROM sales FINAL"))  # type: ignore[arg-type]
    return Figures(batches, single, arrow_load, bare_load, direct, direct_shared, direct_arrow, stored, idle_waits)


def line(label: str, result: LoadResult, events: int) -> float:
    bad = {status: n for status, n in result.statuses.items() if status != 200}
    if bad:
        raise SystemExit(f"{label}: answers other than 200: {bad}")
    rate = events / result.seconds
    p50, p99 = result.p50, result.percentile(0.99)
    cores = f"  cores: API {result.cores[0]:.2f}, warehouse {result.cores[1]:.2f}" if result.cores else ""
    print(f"  {label:<46} {rate:>10,.0f}/s  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms{cores}")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, default=200, help="JSON batches of 1,000 sales for (a)")
    parser.add_argument("--singles", type=int, default=20_000, help="single-sale requests for (b)")
    parser.add_argument("--arrow-bodies", type=int, default=16, help=f"Arrow bodies of {ARROW_ROWS:,} sales for (c)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        figures = measure(args, Path(tmp))

    print("ingest through the API (1 worker) into the embedded warehouse:")
    a = line("(a) JSON batches of 1,000 sales, 4 clients", figures.batches, args.batches * 1000)
    b = line("(b) single sales, 64 clients", figures.singles, args.singles)
    c = line(f"(c) Arrow bodies of {ARROW_ROWS:,} sales, 2 clients", figures.arrow, args.arrow_bodies * ARROW_ROWS)
    print("ceilings measured in the same run:")
    print(f"  {'direct insert_arrow, 1,000-row batches':<46} {figures.direct_rows_per_second:>10,.0f}/s")
    print(f"  {'direct insert_arrow, 4,000-row batches':<46} {figures.direct_shared_rows_per_second:>10,.0f}/s")
    print(f"  {'direct insert_arrow, 100,000-row tables':<46} {figures.direct_arrow_rows_per_second:>10,.0f}/s")
    bare = line("bare Litestar endpoint, 64 clients (requests)", figures.bare, args.singles)
    p99 = figures.singles.percentile(0.99)
    met_a = "met" if a >= GOAL_BATCHES else "NOT met"
    met_b = "met" if b >= GOAL_SINGLES and p99 <= GOAL_SINGLES_P99_MS else "NOT met"
    waits = ", ".join(f"{wait:.1f}" for wait in figures.idle_waits[-4:])
    print(f"  (each load began once the warehouse was idle: waited {waits} s before (a), (b), (c), bare)")
    print("ratios and goals:")
    shared = figures.direct_shared_rows_per_second
    print(
        f"  (a) {a / figures.direct_rows_per_second:.2f} of the direct 1,000-row insert, {a / shared:.2f} of the"
        f" 4,000-row one; goal {GOAL_BATCHES:,}/s: {met_a}"
    )
    goal_b = f"{GOAL_SINGLES:,}/s at p99 <= {GOAL_SINGLES_P99_MS:g} ms"
    print(f"  (b) {b / bare:.2f} of the bare endpoint; goal {goal_b}: {met_b}")
    met_c = "met" if c >= GOAL_ARROW else "NOT met"
    print(f"  (c) {c / figures.direct_arrow_rows_per_second:.2f} of the direct insert; goal {GOAL_ARROW:,}/s: {met_c}")
    expected = args.batches * 1000 + args.singles + args.arrow_bodies * ARROW_ROWS
    print(f"  sales stored: {figures.stored:,} (sent {expected:,}, each once)")
    if figures.stored != expected:
        raise SystemExit("stored count differs from what was sent")


if __name__ == "__main__":
    main()
