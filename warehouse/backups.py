"""Backups of the service's database with ClickHouse's own BACKUP and RESTORE, run through the warehouse like
any statement, so they work while the service runs (each table copied as of one moment).

The embedded warehouse keeps them in `<data dir>/backups` (WarehouseSettings.backup_dir); a ClickHouse server
keeps them where its own `backups.allowed_path` says.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from clickhouse_connect.driver.client import Client

from warehouse.connection import quote_identifier

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


class BackupRefused(Exception):
    """A backup or restore that would not do what was asked: said in one line."""


@dataclass(frozen=True, slots=True)
class Made:
    name: str
    files: int
    bytes: int


def default_name(database: str, now: datetime) -> str:
    """`<database>-<UTC time>`: sorts by time, and names what it holds."""
    return f"{database}-{now.strftime('%Y%m%dT%H%M%SZ')}"


def check_name(name: str) -> str:
    """A backup's name is a folder in the backup directory: no paths, nothing that could leave it."""
    if not _NAME.fullmatch(name) or ".." in name:
        raise BackupRefused(
            f"backup names are letters, digits, '.', '_' and '-' (at most 128, no '..'), not {name[:140]!r}"
        )
    return name


def back_up(client: Client, database: str, name: str) -> Made:
    check_name(name)
    done = client.query(f"BACKUP DATABASE {quote_identifier(database)} TO File('{name}')").result_rows
    made = client.query(
        "SELECT num_files, total_size FROM system.backups WHERE id = {id:String}", parameters={"id": done[0][0]}
    ).result_rows
    files, size = made[0] if made else (0, 0)
    return Made(name, int(files), int(size))


def restore(client: Client, database: str, name: str, *, replace: bool) -> int:
    """Restore `database` from the backup `name`; returns how many tables it holds then. A database that holds
    tables is replaced only when asked (`replace`), since what it holds is lost."""
    check_name(name)
    tables = _tables(client, database)
    if tables and not replace:
        raise BackupRefused(
            f"database {database} holds {tables} table(s): restoring would lose them. Stop the service, then"
            " restore with --replace (the database is dropped first)"
        )
    # Dropped also when it holds nothing: RESTORE makes the database itself.
    client.command(f"DROP DATABASE IF EXISTS {quote_identifier(database)} SYNC")
    client.command(f"RESTORE DATABASE {quote_identifier(database)} FROM File('{name}')")
    return _tables(client, database)


def _tables(client: Client, database: str) -> int:
    rows = client.query("SELECT count() FROM system.tables WHERE database = {db:String}", parameters={"db": database})
    return int(rows.result_rows[0][0])
