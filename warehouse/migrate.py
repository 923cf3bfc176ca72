"""Schema migrations: numbered `.sql` files in `warehouse/migrations/`, each applied once, in order.

Applied versions are recorded with the file's checksum in `<database>.schema_migrations`; a file changed
after it was applied stops the run with an error naming it (write a new migration instead). Statements
use `IF NOT EXISTS` so a run interrupted half-way through a file can simply be run again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from clickhouse_connect.driver.client import Client

from tickettoken.settings import WarehouseSettings
from warehouse.cluster import render
from warehouse.sql_text import is_setting_name, quote_literal

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

_LEDGER_SQL = """
CREATE TABLE IF NOT EXISTS {database}.schema_migrations {on_cluster}
(
    version    UInt32,
    name       String,
    checksum   String,
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = {engine}
ORDER BY version
"""
_APPLIED_SQL = "SELECT version, name, checksum FROM {database}.schema_migrations ORDER BY version"
_RECORD_SQL = (
    "INSERT INTO {database}.schema_migrations (version, name, checksum) VALUES ({v:UInt32}, {n:String}, {c:String})"
)


class MigrationError(Exception):
    """A migration cannot be applied, or an applied one was changed."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    path: Path

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migration files in version order; names are `NNNN_what.sql`."""
    migrations: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        number, _, _ = path.stem.partition("_")
        if not number.isdigit():
            raise MigrationError(f"{path.name}: migration files are named NNNN_description.sql")
        migrations.append(Migration(int(number), path.stem, path))
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise MigrationError("two migration files share a version number")
    return migrations


def migrate(client: Client, settings: WarehouseSettings, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply every migration not yet applied; returns the names applied by this run."""
    database, cluster = settings.database, settings.cluster
    if not is_setting_name(database):
        raise MigrationError(f"database name {database!r} must be a plain identifier")
    on_cluster = f"ON CLUSTER {quote_literal(cluster)}" if cluster else ""
    engine = (
        f"ReplicatedMergeTree('/clickhouse/tables/{{shard}}/{database}/schema_migrations', '{{replica}}')"
        if cluster
        else "MergeTree"
    )
    client.command(f"CREATE DATABASE IF NOT EXISTS {database} {on_cluster}")
    ledger = _LEDGER_SQL.replace("{on_cluster}", on_cluster).replace("{engine}", engine)
    client.command(ledger.replace("{database}", database))
    applied = {
        int(row[0]): (row[1], row[2]) for row in client.query(_APPLIED_SQL.replace("{database}", database)).result_rows
    }
    done: list[str] = []
    for migration in discover(directory):
        if migration.version in applied:
            name, checksum = applied[migration.version]
            if checksum != migration.checksum:
                raise MigrationError(
                    f"{migration.path.name} was changed after it was applied (as {name}); "
                    "applied migrations are history: add a new migration instead"
                )
            continue
        for sql in render(migration.path.read_text(), database=database, cluster=cluster):
            client.command(sql)
        client.command(
            _RECORD_SQL.replace("{database}", database),
            parameters={"v": migration.version, "n": migration.name, "c": migration.checksum},
        )
        done.append(migration.name)
    return done
