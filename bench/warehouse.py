"""Warehouse server against in-process chDB, measured in the same run.

Prints insert rows/s (clickhouse-connect `insert_arrow` through the server, compress=False and lz4) beside the
same Arrow bytes inserted by an in-process chDB client, and SELECT 1 round-trip p50/p99 through the server
(clickhouse-connect, and raw HTTP keep-alive) beside an in-process `query`. Run: `make bench` or
`uv run python -m bench.warehouse [--rows N]`.
"""

from __future__ import annotations

import argparse
import http.client
import io
import statistics
import tempfile
import time
from base64 import b64encode
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import chdb
import numpy as np
import pyarrow as pa

from tests.support import RW_PASSWORD, WarehouseServer, free_port

INSERT_AIM = 0.6  # the server should keep at least this share of the in-process insert rate
TABLE_SQL = (
    "CREATE OR REPLACE TABLE bench_sales (sale_id String, event_id String, quantity UInt16, "
    "unit_price Decimal(12, 2), purchased_at DateTime64(3, 'UTC')) ENGINE = MergeTree ORDER BY (event_id, sale_id)"
)


def sales_table(rows: int) -> pa.Table:
    rng = np.random.default_rng(7)
    cents = rng.integers(1_000, 20_000, rows)
    return pa.table(
        {
            "sale_id": pa.array([f"s{i:09d}" for i in range(rows)]),
            "event_id": pa.array([f"e{i:05d}" for i in rng.integers(0, 500, rows)]),
            "quantity": pa.array(rng.integers(1, 6, rows).astype(np.uint16)),
            "unit_price": pa.array([Decimal(int(c)) / 100 for c in cents], pa.decimal128(12, 2)),
            "purchased_at": pa.array(
                (1_760_000_000_000 + np.arange(rows, dtype=np.int64) * 100).astype("datetime64[ms]"),
                pa.timestamp("ms", tz="UTC"),
            ),
        }
    )


def best_rate(rows: int, runs: int, insert: Callable[[], None], reset: Callable[[], None]) -> float:
    rates = []
    for _ in range(runs):
        reset()
        started = time.perf_counter()
        insert()
        rates.append(rows / (time.perf_counter() - started))
    return max(rates)


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[int(len(ordered) * 0.99) - 1] * 1000


def timed(repeats: int, call: Callable[[], object]) -> list[float]:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--round-trips", type=int, default=2000)
    args = parser.parse_args()

    table = sales_table(args.rows)
    sink = io.BytesIO()
    with pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    arrow_bytes = sink.getvalue()

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        # In-process: this process owns its own chDB directory (one process per directory).
        local: Any = chdb.connect(str(base / "inprocess"))

        def local_insert() -> None:
            inserter = local.send_insert("INSERT INTO bench_sales", "Arrow")
            inserter.append(arrow_bytes)
            inserter.finish()

        local_rate = best_rate(args.rows, args.runs, local_insert, lambda: local.query(TABLE_SQL))
        local_rtt = timed(args.round_trips, lambda: local.query("SELECT 1", "TabSeparated"))

        server = WarehouseServer(data_dir=base / "server", port=free_port(), log_path=base / "server.log").start()
        try:
            rates = {}
            for compress in (False, True):
                client = server.client(compress=compress)
                rates[compress] = best_rate(
                    args.rows,
                    args.runs,
                    lambda c=client: c.insert_arrow("bench_sales", table),  # type: ignore[misc]
                    lambda c=client: c.command(TABLE_SQL),  # type: ignore[misc]
                )
                count = client.command("SELECT count() FROM bench_sales")
                if count != args.rows:
                    raise SystemExit(f"server table holds {count} rows, expected {args.rows}")
            client = server.client()
            client_rtt = timed(args.round_trips, lambda: client.command("SELECT 1"))
            raw_rtt = raw_http_round_trips(server, args.round_trips)
        finally:
            server.stop()

    print(f"insert {args.rows:,} rows of sales (Arrow) into MergeTree, best of {args.runs}:")
    print(f"  in-process chDB (ceiling)          {local_rate:>12,.0f} rows/s")
    for compress, rate in rates.items():
        label = "lz4" if compress else "compress=False"
        aim = f" (aim >= {INSERT_AIM})" if not compress else ""
        print(f"  server, clickhouse-connect {label:<15} {rate:>12,.0f} rows/s  ratio {rate / local_rate:.2f}{aim}")
    local_p50, local_p99 = percentiles(local_rtt)
    print(f"SELECT 1 round trip, {args.round_trips} sequential:")
    print(f"  in-process chDB (ceiling)          p50 {local_p50:6.3f} ms  p99 {local_p99:6.3f} ms")
    for label, samples in (("server, raw HTTP keep-alive", raw_rtt), ("server, clickhouse-connect", client_rtt)):
        p50, p99 = percentiles(samples)
        print(f"  {label:<34} p50 {p50:6.3f} ms  p99 {p99:6.3f} ms  ratio p50 {p50 / local_p50:.1f}x")


def raw_http_round_trips(server: WarehouseServer, repeats: int) -> list[float]:
    """SELECT 1 over one keep-alive connection with no client library in the way."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port)
    headers = {"Authorization": "Basic " + b64encode(f"default:{RW_PASSWORD}".encode()).decode()}

    def one() -> None:
        connection.request("POST", "/", body=b"SELECT 1", headers=headers)
        response = connection.getresponse()
        if response.read() != b"1\n":
            raise SystemExit("unexpected answer to SELECT 1")

    samples = timed(repeats, one)
    connection.close()
    return samples


if __name__ == "__main__":
    main()
