"""The project's own dbt project builds on a migrated warehouse, with the service's settings, and its staging
models count a record sent twice once; `dbt show` and `dbt source freshness` work on it."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client

from tests.support import ROOT, WarehouseServer
from warehouse.migrate import migrate

PROJECT = ROOT / "dbt_project"
SALE_COLUMNS = [
    "sale_id",
    "event_id",
    "customer_id",
    "purchased_at",
    "tier",
    "quantity",
    "unit_price",
    "currency",
    "channel",
]


def _dbt(
    *arguments: str, env: dict[str, str], log_path: Path, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """`dbt <arguments>` on the project's own dbt project, with `env` (and no usage reports), its log in
    `log_path`."""
    command = [str(Path(sys.executable).parent / "dbt"), *arguments, "--project-dir", str(PROJECT)]
    command += ["--profiles-dir", str(PROJECT), "--log-path", str(log_path)]
    env = {**env, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def test_staging_builds_with_one_row_per_record(warehouse: WarehouseServer, client: Client, tmp_path: Path) -> None:
    database = f"dbtp_{uuid.uuid4().hex[:8]}"
    migrate(client, warehouse.settings(database=database).warehouse)
    now = datetime.now(UTC)
    client.insert(
        f"{database}.events",
        [["e1", "org-1", "Gig", "Band", "rock", "v1", now, now, 100, "EUR", [("GA", Decimal(10), 100)], "scheduled",
          now]],
        column_names=["event_id", "organizer_id", "name", "artist", "genre", "venue_id", "starts_at", "on_sale_at",
                      "capacity", "currency", "tiers", "status", "updated_at"],
    )  # fmt: skip
    sales = [[f"s{n}", "e1", "c1", now, "GA", 1, Decimal("10.00"), "EUR", "web"] for n in range(5)]
    # Two copies of every sale, as two API workers racing on the same retry could leave them.
    client.insert(f"{database}.sales", sales, column_names=SALE_COLUMNS)
    client.insert(f"{database}.sales", sales, column_names=SALE_COLUMNS)
    assert client.command(f"SELECT count() FROM {database}.sales") == 10

    env = {**warehouse.env(), "TICKETTOKEN_CLICKHOUSE_DATABASE": database}
    # The credentials in the URL, which the API takes too: the profile read the user name as the host.
    password = env.pop("TICKETTOKEN_CLICKHOUSE_PASSWORD")
    env["TICKETTOKEN_CLICKHOUSE_URL"] = warehouse.url.replace("://", f"://default:{password}@")

    def dbt(*arguments: str, exit_code: int = 0) -> str:
        result = _dbt(*arguments, "--target-path", str(tmp_path / "target"), env=env, log_path=tmp_path)
        assert result.returncode == exit_code, result.stdout + result.stderr
        return result.stdout

    built = dbt("build")
    assert "unique_stg_sales_sale_id" in built
    assert "WARNING" not in built, built  # e.g. configs for folders with no models yet, on every command
    views = {row[0] for row in client.query(f"SHOW TABLES FROM {database}_analytics").result_rows}
    assert {"stg_sales", "stg_scans", "stg_revenue", "stg_social", "stg_events", "stg_venues"} <= views
    assert client.command(f"SELECT count() FROM {database}_analytics.stg_sales") == 5
    # `dbt show` previews a model and, with it, the tests on it: the relationships test between sales and events
    # ends in a SETTINGS clause that a LIMIT may not follow (dbt_project/macros/get_limit_sql.sql).
    shown = dbt("show", "--select", "stg_sales", "--limit", "2")
    assert "Previewing node 'stg_sales'" in shown
    assert len([line for line in shown.splitlines() if line.startswith("| s") and "| e1 " in line]) == 2

    # The scheduled job's freshness check: sales written now pass; sales last written two days ago fail it.
    assert "PASS freshness of raw.sales" in dbt("source", "freshness")
    client.command(f"TRUNCATE TABLE {database}.sales")
    client.insert(
        f"{database}.sales", [[*sales[0], now - timedelta(days=2)]], column_names=[*SALE_COLUMNS, "ingested_at"]
    )
    assert "ERROR STALE freshness of raw.sales" in dbt("source", "freshness", exit_code=1)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://reader:secret@localhost", ["host: localhost", "port: 8443", "user: reader", "secure: True"]),
        ("http://[::1]:9", ["host: ::1", "port: 9", "user: default", "secure: False"]),
    ],
)
def test_the_profile_reads_the_warehouse_url_as_the_api_does(url: str, expected: list[str], tmp_path: Path) -> None:
    """https without a port is 8443, as for the API (the profile took 8123); brackets of IPv6 hosts are not the
    port's colons. Nothing listens there (loopback): `dbt debug` prints the profile, then fails to connect."""
    env = {**os.environ, "TICKETTOKEN_CLICKHOUSE_URL": url}
    env.pop("TICKETTOKEN_CLICKHOUSE_USER", None)
    result = _dbt("debug", env=env, log_path=tmp_path, timeout=300)
    shown = {line.split("  ", 1)[-1].strip() for line in result.stdout.splitlines()}
    assert set(expected) <= shown, result.stdout + result.stderr
