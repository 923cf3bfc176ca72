"""The project's own dbt project builds against the migrated warehouse, with the service's settings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from clickhouse_connect.driver.client import Client

from tests.support import ROOT, WarehouseServer

PROJECT = ROOT / "dbt_project"


def test_staging_builds_and_tests_pass(warehouse: WarehouseServer, client: Client, tmp_path: Path) -> None:
    command = [str(Path(sys.executable).parent / "dbt"), "build", "--project-dir", str(PROJECT)]
    command += ["--profiles-dir", str(PROJECT), "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path)]
    result = subprocess.run(
        command,
        env={**warehouse.env(), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    views = {row[0] for row in client.query("SHOW TABLES FROM tickettoken_analytics").result_rows}
    assert {"stg_sales", "stg_scans", "stg_revenue", "stg_social", "stg_events", "stg_venues"} <= views
