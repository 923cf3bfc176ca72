"""The embedded engine's MergeTree default: small parts in one file each (warehouse/storage_defaults.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client

from tests.support import WarehouseServer, free_port
from warehouse.storage_defaults import PACKED_BELOW_BYTES, SETTING


def _storage_types(client: Client, table: str) -> set[str]:
    rows = client.query(
        "SELECT DISTINCT part_storage_type FROM system.parts WHERE active AND database = currentDatabase()"
        " AND table = {t:String}",
        parameters={"t": table},
    ).result_rows
    return {str(row[0]) for row in rows}


def _setting(client: Client, table: str) -> str:
    found = re.search(SETTING + r" = (\d+)", str(client.command(f"SHOW CREATE TABLE {table}")))
    return found.group(1) if found else ""


@pytest.fixture
def tables(client: Client) -> Iterator[list[str]]:
    made: list[str] = []
    yield made
    for table in made:
        client.command(f"DROP TABLE IF EXISTS {table}")


def test_a_new_table_writes_small_parts_as_one_file_and_reads_them_back(client: Client, tables: list[str]) -> None:
    tables.append("packed_sales")
    client.command("CREATE TABLE packed_sales (id String, n UInt32) ENGINE = ReplacingMergeTree ORDER BY id")
    assert _setting(client, "packed_sales") == str(PACKED_BELOW_BYTES)
    client.command("INSERT INTO packed_sales SELECT toString(number % 700), number FROM numbers(1000)")
    client.command("INSERT INTO packed_sales SELECT toString(number), number FROM numbers(300)")
    assert _storage_types(client, "packed_sales") == {"Packed"}
    assert client.command("SELECT count() FROM packed_sales FINAL") == 700
    client.command("ALTER TABLE packed_sales DELETE WHERE id = '1' SETTINGS mutations_sync = 2")
    assert client.command("SELECT count() FROM packed_sales FINAL") == 699
    client.command("OPTIMIZE TABLE packed_sales FINAL")
    assert client.command("SELECT count(), uniqExact(id) FROM packed_sales") == ["699", "699"]


def test_a_table_that_turns_it_off_is_left_alone(client: Client, tables: list[str]) -> None:
    tables.append("full_parts")
    client.command(f"CREATE TABLE full_parts (id UInt32) ENGINE = MergeTree ORDER BY id SETTINGS {SETTING} = 0")
    client.command("INSERT INTO full_parts SELECT number FROM numbers(10)")
    assert _setting(client, "full_parts") == "0"
    assert _storage_types(client, "full_parts") == {"Full"}


def test_tables_without_the_setting_get_it_when_the_engine_opens(tmp_path: Path) -> None:
    server = WarehouseServer(data_dir=tmp_path / "data", port=free_port(), log_path=tmp_path / "server.log")
    server.start()
    try:
        client = server.client()
        client.command("CREATE TABLE older (id UInt32) ENGINE = MergeTree ORDER BY id")
        client.command(f"ALTER TABLE older RESET SETTING {SETTING}")  # as a table made before the default was
        assert _setting(client, "older") == ""
        client.command("INSERT INTO older SELECT number FROM numbers(10)")
        assert _storage_types(client, "older") == {"Full"}
        client.close()
        server.stop()
        server.start()
        client = server.client()
        assert _setting(client, "older") == str(PACKED_BELOW_BYTES)
        client.command("INSERT INTO older SELECT number FROM numbers(10, 10)")
        assert _storage_types(client, "older") == {"Full", "Packed"}
        client.close()
        server.stop()
        server.start()  # packed parts read back after a restart
        client = server.client()
        assert client.command("SELECT count(), sum(id) FROM older") == ["20", str(sum(range(20)))]
        client.close()
    finally:
        server.stop()
