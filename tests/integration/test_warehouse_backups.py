"""`tickettoken warehouse backup` and `restore`: ClickHouse's BACKUP and RESTORE on the embedded warehouse, taken
while it serves, restored over it or into another data directory; the analyst may do neither."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from clickhouse_connect.driver.exceptions import DatabaseError

from tests.support import WarehouseServer, free_port
from warehouse.migrate import migrate

SALE_COLUMNS = ["sale_id", "event_id", "customer_id", "purchased_at", "tier", "quantity", "unit_price", "currency",
                "channel"]  # fmt: skip


def _server(base: Path) -> WarehouseServer:
    base.mkdir()
    return WarehouseServer(data_dir=base / "data", port=free_port(), log_path=base / "server.log").start()


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[tuple[WarehouseServer, WarehouseServer]]:
    first, second = _server(tmp_path / "a"), _server(tmp_path / "b")
    yield first, second
    first.stop()
    second.stop()


def _sell(server: WarehouseServer, first: int, count: int) -> None:
    now = datetime.now(UTC)
    rows = [[f"s{n}", "e1", "c1", now, "GA", 1, Decimal("10.00"), "EUR", "web"] for n in range(first, first + count)]
    server.client().insert("tickettoken.sales", rows, column_names=SALE_COLUMNS)


def _sales(server: WarehouseServer) -> int:
    return int(server.client().query("SELECT count() FROM tickettoken.sales FINAL").result_rows[0][0])


def test_a_backup_taken_while_serving_restores_over_the_data_and_elsewhere(
    servers: tuple[WarehouseServer, WarehouseServer],
) -> None:
    live, spare = servers
    migrate(live.client(), live.settings().warehouse)
    _sell(live, 0, 5)

    made = live.run_cli("warehouse", "backup", "--name", "before-the-sale")
    assert made.returncode == 0, made.stderr
    assert "backup before-the-sale:" in made.stdout
    assert (live.data_dir / "backups" / "before-the-sale" / ".backup").is_file()

    _sell(live, 5, 3)
    refused = live.run_cli("warehouse", "restore", "before-the-sale")
    assert refused.returncode == 1 and "holds" in refused.stderr and "--replace" in refused.stderr, refused.stderr
    assert _sales(live) == 8, "a refused restore changed nothing"
    replaced = live.run_cli("warehouse", "restore", "before-the-sale", "--replace")
    assert replaced.returncode == 0, replaced.stderr
    assert _sales(live) == 5

    # Another machine: the backup's folder copied into its backup directory, restored into an empty warehouse,
    # whose schema is then up to date.
    shutil.copytree(live.data_dir / "backups" / "before-the-sale", spare.data_dir / "backups" / "before-the-sale")
    restored = spare.run_cli("warehouse", "restore", "before-the-sale")
    assert restored.returncode == 0, restored.stderr
    assert _sales(spare) == 5
    assert "0 migration(s) applied" in spare.run_cli("warehouse", "migrate").stdout


def test_backups_stay_in_their_directory_and_away_from_the_analyst(
    servers: tuple[WarehouseServer, WarehouseServer],
) -> None:
    live, _ = servers
    migrate(live.client(), live.settings().warehouse)
    for name in ("../outside", "/etc/x", "a b"):
        refused = live.run_cli("warehouse", "backup", "--name", name)
        assert refused.returncode == 1 and "backup names are" in refused.stderr, (name, refused.stderr)
    with pytest.raises(DatabaseError) as raised:
        live.analyst().command("BACKUP DATABASE tickettoken TO File('by-the-analyst')")
    assert "Code: 164" in str(raised.value)
    with pytest.raises(DatabaseError) as raised:  # the engine's own limit, for a statement naming a path
        live.client().command("BACKUP DATABASE tickettoken TO File('/tmp/anywhere')")
    assert "not allowed for backups" in str(raised.value)
    assert not (live.data_dir / "backups" / "by-the-analyst").exists()
