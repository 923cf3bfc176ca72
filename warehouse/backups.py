"""Backups of the service's database with ClickHouse's own BACKUP and RESTORE, run through the warehouse like
any statement, so they work while the service runs (each table copied as of one moment).

The embedded warehouse keeps them in `<data dir>/backups` (WarehouseSettings.backup_dir); a ClickHouse server
keeps them where its own `backups.allowed_path` says.
"""

from __future__ import annotations

import contextlib
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError

from warehouse.connection import quote_identifier

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
# BACKUP and RESTORE answer once done, and their request is their only handle: a client that stops waiting has them
# cancelled, like any query. clickhouse-connect stops after 300 s by default, which a database of a few tens of GB
# takes (measured: a backup cut at a client's timeout was BACKUP_CANCELLED). So their request waits this long.
# (ASYNC, which would free it, is refused by the embedded warehouse: warehouse/statements.py.)
OPERATION_WAIT_SECONDS = 7 * 24 * 3600
POLL_SECONDS = 0.5
STAGING_SUFFIX = "__restoring"  # a restore's database until the whole backup is in
_PROGRESS_SQL = "SELECT total_size, bytes_read FROM system.backups WHERE id = {id:String}"

Connect = Callable[..., Client]  # a new client to the warehouse, taking clickhouse-connect's options
Progress = Callable[[int, int], None]  # bytes done, bytes in all


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


def back_up(
    connect: Connect, database: str, name: str, *, max_bandwidth: int = 0, progress: Progress | None = None
) -> Made:
    """BACKUP `database` as `name`. `max_bandwidth`: bytes a second it may read (0: as fast as the disk reads),
    to leave the service's queries their share; `progress`: called every half second with bytes written so far
    and the database's bytes on disk."""
    check_name(name)
    operation = str(uuid.uuid4())
    limit = f", max_backup_bandwidth = {int(max_bandwidth)}" if max_bandwidth > 0 else ""
    statement = f"BACKUP DATABASE {quote_identifier(database)} TO File('{name}') SETTINGS id = '{operation}'{limit}"
    with contextlib.closing(connect()) as client:
        total = _bytes_on_disk(client, database)
        _watched(connect, statement, operation, lambda written, _read: (written, total), progress)
        made = client.query(
            "SELECT num_files, total_size FROM system.backups WHERE id = {id:String}", parameters={"id": operation}
        ).result_rows
    files, size = made[0] if made else (0, 0)
    return Made(name, int(files), int(size))


def restore(connect: Connect, database: str, name: str, *, replace: bool, progress: Progress | None = None) -> int:
    """Restore `database` from the backup `name`; returns how many tables it holds then. A database that holds
    tables is replaced only when asked (`replace`), since what it holds is lost. `progress`: called every half
    second with bytes read from the backup so far and its size.

    The backup is restored beside the database first (as `<database>__restoring`), which is replaced only once
    all of it is in: the database was dropped first, so a backup that was not there (a typo in its name) or could
    not be read left no database at all. It takes the backup's size on disk again, for the restore's length."""
    check_name(name)
    staging = quote_identifier(database + STAGING_SUFFIX)
    with contextlib.closing(connect()) as client:
        tables = _tables(client, database)
        if tables and not replace:
            raise BackupRefused(
                f"database {database} holds {tables} table(s): restoring would lose them. Stop the service, then"
                " restore with --replace (the database is replaced once the backup is restored beside it)"
            )
        client.command(f"DROP DATABASE IF EXISTS {staging} SYNC")  # what an interrupted restore left
        operation = str(uuid.uuid4())
        statement = (
            f"RESTORE DATABASE {quote_identifier(database)} AS {staging} FROM File('{name}')"
            f" SETTINGS id = '{operation}'"
        )
        try:
            _watched(connect, statement, operation, lambda size, read: (read, size), progress)
        except Exception:  # (an interrupted one's is dropped by the next restore)
            with contextlib.suppress(ClickHouseError):
                client.command(f"DROP DATABASE IF EXISTS {staging} SYNC")
            raise
        client.command(f"DROP DATABASE IF EXISTS {quote_identifier(database)} SYNC")
        client.command(f"RENAME DATABASE {staging} TO {quote_identifier(database)}")
        return _tables(client, database)


def _watched(
    connect: Connect,
    statement: str,
    operation: str,
    done_of: Callable[[int, int], tuple[int, int]],
    progress: Progress | None,
) -> None:
    """Run `statement` (the operation `operation`) on a client of its own, waiting as long as it takes, and report
    its progress meanwhile from `system.backups` (`done_of`: its total_size and bytes_read as done and in all)."""
    failure: list[BaseException] = []

    def run() -> None:
        try:
            with contextlib.closing(connect(send_receive_timeout=OPERATION_WAIT_SECONDS)) as client:
                client.command(statement)
        except BaseException as error:  # noqa: BLE001 - raised again in the caller's thread
            failure.append(error)

    # A daemon: should the command be interrupted, its exit closes the request, which cancels the operation.
    worker = threading.Thread(target=run, name="backup-operation", daemon=True)
    worker.start()
    with contextlib.closing(connect()) as watcher:
        reported = 0  # the most reported so far: progress never goes back
        while True:
            worker.join(POLL_SECONDS)
            finished = not worker.is_alive()
            if progress is not None:
                reported = _report(watcher, operation, done_of, progress, reported, finished=finished and not failure)
            if finished:
                break
    if failure:
        raise failure[0]


def _report(
    watcher: Client,
    operation: str,
    done_of: Callable[[int, int], tuple[int, int]],
    progress: Progress,
    reported: int,
    *,
    finished: bool,
) -> int:
    """Report the operation's progress; the bytes done as reported."""
    try:
        done, total = shown(*_so_far(watcher, operation, done_of), reported, finished=finished)
    except ClickHouseError:  # a report missed; the operation goes on
        return reported
    progress(done, total)
    return done


def shown(done: int, total: int, reported: int, *, finished: bool) -> tuple[int, int]:
    """(done, total) as shown: never less done than `reported` before (the engine's count of bytes done has been
    seen to fall between two reads, 1,702 then 1,134), never more than the total, and all of it once finished (the
    backup's files outweigh the parts they copy a little)."""
    if finished:
        return (everything := max(done, total, reported)), everything
    done = max(min(done, total), reported)
    return done, max(total, done)


def _so_far(watcher: Client, operation: str, done_of: Callable[[int, int], tuple[int, int]]) -> tuple[int, int]:
    rows = watcher.query(_PROGRESS_SQL, parameters={"id": operation}).result_rows
    return done_of(int(rows[0][0]), int(rows[0][1])) if rows else (0, 0)


def _bytes_on_disk(client: Client, database: str) -> int:
    rows = client.query(
        "SELECT sum(bytes_on_disk) FROM system.parts WHERE database = {db:String} AND active",
        parameters={"db": database},
    ).result_rows
    return int(rows[0][0]) if rows else 0


def _tables(client: Client, database: str) -> int:
    rows = client.query("SELECT count() FROM system.tables WHERE database = {db:String}", parameters={"db": database})
    return int(rows.result_rows[0][0])
