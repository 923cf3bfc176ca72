"""`tickettoken warehouse backup` and `restore`: ClickHouse's BACKUP and RESTORE on the embedded warehouse, taken
while it serves, restored over it or into another data directory; the analyst may do neither."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from pathlib import Path

import pytest
from clickhouse_connect.driver.exceptions import DatabaseError

from tests.support import WarehouseServer, free_port
from warehouse.backups import back_up, restore
from warehouse.client import connect
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
    # A backup that is not there (a typo), or one that cannot be read: the database was dropped before RESTORE
    # failed, and nothing was left of it.
    shutil.copytree(live.data_dir / "backups" / "before-the-sale", live.data_dir / "backups" / "broken")
    shutil.rmtree(live.data_dir / "backups" / "broken" / "data" / "tickettoken" / "sales")  # copied in part
    for missing in ("before-the-sael", "broken"):
        failed = live.run_cli("warehouse", "restore", missing, "--replace")
        assert failed.returncode == 1 and "Code: " in failed.stderr, (missing, failed.stderr)
        assert _sales(live) == 8, f"restoring {missing!r} changed nothing"
    replaced = live.run_cli("warehouse", "restore", "before-the-sale", "--replace")
    assert replaced.returncode == 0, replaced.stderr
    assert _sales(live) == 5
    databases = {row[0] for row in live.client().query("SELECT name FROM system.databases").result_rows}
    assert "tickettoken__restoring" not in databases

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


def test_a_long_backup_reports_its_progress_and_outlasts_a_clients_timeout(
    servers: tuple[WarehouseServer, WarehouseServer],
) -> None:
    """The command waited on one request with clickhouse-connect's 300 s read timeout: a backup that took longer
    was cancelled when the client gave up (BACKUP_CANCELLED), and nothing said how far it had got."""
    live, spare = servers
    settings = live.settings().warehouse
    migrate(live.client(), settings)
    live.client().command("SYSTEM STOP MERGES tickettoken.sales")  # the parts stay as many, and their size as it was
    for _ in range(20):  # parts, each of its files, are what the engine counts as written
        live.client().command(
            "INSERT INTO tickettoken.sales (sale_id, event_id, customer_id, purchased_at, tier, quantity, unit_price,"
            " currency, channel) SELECT toString(generateUUIDv4()), 'e1', toString(rand()), now64(3), 'GA', 1, 10,"
            " 'EUR', 'web' FROM numbers(15000)"
        )
    parts = "SELECT sum(bytes_on_disk) FROM system.parts WHERE database = 'tickettoken' AND active"
    on_disk = int(live.client().query(parts).result_rows[0][0])
    reports: list[tuple[int, int]] = []
    # Every client of the backup's times out after a second, but for the one running the statement.
    connect_briefly = partial(connect, settings, send_receive_timeout=1)
    made = back_up(
        connect_briefly, "tickettoken", "slow", max_bandwidth=on_disk // 3, progress=lambda *r: reports.append(r)
    )
    assert made.bytes >= on_disk and (live.data_dir / "backups" / "slow" / ".backup").is_file()
    moving = [done for done, total in reports[:-1] if 0 < done < total == on_disk]
    assert len(moving) >= 2 and moving == sorted(moving), reports
    assert reports[-1][0] == reports[-1][1] >= on_disk, reports  # all of it, at the end

    shutil.copytree(live.data_dir / "backups" / "slow", spare.data_dir / "backups" / "slow")
    restored: list[tuple[int, int]] = []
    tables = restore(partial(connect, spare.settings().warehouse), "tickettoken", "slow", replace=False,
                     progress=lambda *r: restored.append(r))  # fmt: skip
    assert tables > 0 and _sales(spare) == 300_000
    assert restored[-1][0] == restored[-1][1] == made.bytes, restored


def test_a_backup_left_running_in_the_background_is_refused(servers: tuple[WarehouseServer, WarehouseServer]) -> None:
    """`BACKUP ... ASYNC` made every other query fail with code 216 until it was done (the API answered 503)."""
    live, _ = servers
    migrate(live.client(), live.settings().warehouse)
    for statement in (
        "BACKUP DATABASE tickettoken TO File('behind') ASYNC",
        "BACKUP DATABASE tickettoken TO File('behind') SETTINGS async = 1",
        "RESTORE DATABASE tickettoken AS other FROM File('behind') ASYNC",
    ):
        with pytest.raises(DatabaseError) as raised:
            live.client().command(statement)
        assert "Code: 48" in str(raised.value) and "Leave out ASYNC" in str(raised.value), statement
    assert not (live.data_dir / "backups" / "behind").exists()
    assert live.client().command("SELECT count() FROM tickettoken.sales") == 0
    # A name or a table that merely says "async" is no such request.
    made = live.client().query("BACKUP DATABASE tickettoken TO File('not-async')").result_rows
    assert made[0][1] == "BACKUP_CREATED"
