"""dbt-core 1.11 with dbt-clickhouse (driver http), unmodified, against the embedded warehouse server."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path

import dbt.version
from clickhouse_connect.driver.client import Client

from tests.support import RW_PASSWORD, WarehouseServer

PROJECT = Path(__file__).parent / "dbt_sample"


def _dbt(warehouse: WarehouseServer, schema: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "SAMPLE_PORT": str(warehouse.port),
        "SAMPLE_PASSWORD": RW_PASSWORD,
        "SAMPLE_SCHEMA": schema,
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    command = [str(Path(sys.executable).parent / "dbt"), *args, "--project-dir", str(PROJECT)]
    command += ["--profiles-dir", str(PROJECT), "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path)]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False)


def _new_raw_orders(client: Client) -> str:
    """A fresh schema name whose `<schema>_raw.orders` source table exists, empty."""
    schema = f"dbt_{uuid.uuid4().hex[:8]}"
    client.command(f"CREATE DATABASE {schema}_raw")
    client.command(
        f"CREATE TABLE {schema}_raw.orders (order_id String, customer_id String, amount Decimal(12, 2), "
        "ordered_at DateTime('UTC')) ENGINE = MergeTree ORDER BY order_id"
    )
    return schema


def _insert_orders(client: Client, schema: str, first: int, count: int) -> None:
    rows = [
        [f"o{n:05d}", f"c{n % 7}", Decimal(n) + Decimal("0.50"), 1_700_000_000 + n * 60]
        for n in range(first, first + count)
    ]
    client.insert(f"{schema}_raw.orders", rows, column_names=["order_id", "customer_id", "amount", "ordered_at"])


def test_dbt_run_and_test_table_view_and_incremental(
    warehouse: WarehouseServer, client: Client, tmp_path: Path
) -> None:
    assert dbt.version.__version__.startswith("1.11."), dbt.version.__version__
    schema = _new_raw_orders(client)
    _insert_orders(client, schema, 0, 70)

    first = _dbt(warehouse, schema, tmp_path, "run")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Completed successfully" in first.stdout
    assert client.command(f"SELECT count() FROM {schema}.orders_incremental") == 70
    assert client.command(f"SELECT count() FROM {schema}.orders_by_customer") == 7
    rows = client.query(f"SELECT name, engine FROM system.tables WHERE database = '{schema}'").result_rows
    engines = {str(name): str(engine) for name, engine in rows}
    assert engines["stg_orders"] == "View"
    assert engines["orders_by_customer"] == "MergeTree"

    _insert_orders(client, schema, 70, 30)
    second = _dbt(warehouse, schema, tmp_path, "run")
    assert second.returncode == 0, second.stdout + second.stderr
    assert client.command(f"SELECT count() FROM {schema}.orders_incremental") == 100
    assert client.command(f"SELECT uniqExact(order_id) FROM {schema}.orders_incremental") == 100
    total = client.command(f"SELECT sum(total_amount) FROM {schema}.orders_by_customer")
    assert Decimal(str(total)) == sum(Decimal(n) + Decimal("0.50") for n in range(100))

    tests = _dbt(warehouse, schema, tmp_path, "test")
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "PASS=6" in tests.stdout


def test_dbt_test_fails_on_a_broken_grain(warehouse: WarehouseServer, client: Client, tmp_path: Path) -> None:
    schema = _new_raw_orders(client)
    _insert_orders(client, schema, 0, 10)
    _insert_orders(client, schema, 0, 1)  # one order twice: stg_orders is no longer one row per order
    assert _dbt(warehouse, schema, tmp_path, "run").returncode == 0
    tests = _dbt(warehouse, schema, tmp_path, "test", "--select", "stg_orders")
    assert tests.returncode != 0
    assert "FAIL 1 unique_stg_orders_order_id" in tests.stdout
