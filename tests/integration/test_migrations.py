"""Migrations against the real warehouse server."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client

from tests.support import WarehouseServer
from tickettoken.settings import WarehouseSettings
from warehouse.migrate import MIGRATIONS_DIR, MigrationError, migrate

RAW_TABLES = {"sales", "scans", "revenue", "social", "events", "venues", "ingest_quarantine"}


def _settings(server: WarehouseServer, database: str) -> WarehouseSettings:
    return server.settings(database=database).warehouse


def _migrated_copy(
    warehouse: WarehouseServer, client: Client, tmp_path: Path, database: str
) -> tuple[Path, WarehouseSettings]:
    """A copy of the migrations, applied to `database`: tests may then change the copy."""
    directory = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, directory)
    settings = _settings(warehouse, database)
    migrate(client, settings, directory)
    return directory, settings


def test_migrations_create_the_raw_tables_once(warehouse: WarehouseServer, client: Client) -> None:
    settings = _settings(warehouse, "mig_once")
    first = migrate(client, settings)
    assert first == [path.stem for path in sorted(MIGRATIONS_DIR.glob("*.sql"))]
    assert migrate(client, settings) == []
    tables = {row[0] for row in client.query("SHOW TABLES FROM mig_once").result_rows}
    assert tables >= RAW_TABLES
    assert client.command("SELECT count() FROM mig_once.schema_migrations") == len(first)
    engine = client.command("SELECT engine FROM system.tables WHERE database = 'mig_once' AND name = 'sales'")
    assert engine == "ReplacingMergeTree"
    widened = client.query(
        "SELECT name FROM system.tables WHERE database = 'mig_once' AND engine_full LIKE '%merge_selector_base = 20%'"
    ).result_rows
    assert {row[0] for row in widened} == {"sales", "scans", "revenue", "social"}


def test_a_changed_applied_migration_stops_with_a_clear_error(
    warehouse: WarehouseServer, client: Client, tmp_path: Path
) -> None:
    directory, settings = _migrated_copy(warehouse, client, tmp_path, "mig_changed")
    changed = directory / "0003_facts.sql"
    changed.write_text(changed.read_text() + "\n-- an edit after the fact\n")
    with pytest.raises(MigrationError, match=r"0003_facts\.sql was changed after it was applied"):
        migrate(client, settings, directory)


def test_a_new_migration_is_applied_after_the_old_ones(
    warehouse: WarehouseServer, client: Client, tmp_path: Path
) -> None:
    directory, settings = _migrated_copy(warehouse, client, tmp_path, "mig_new")
    (directory / "0099_extra.sql").write_text(
        "ALTER TABLE {database}.sales ADD COLUMN IF NOT EXISTS note String DEFAULT '';\n"
    )
    assert migrate(client, settings, directory) == ["0099_extra"]
    columns = {row[0] for row in client.query("DESCRIBE TABLE mig_new.sales").result_rows}
    assert "note" in columns
