"""The embedded engine's default for MergeTree tables: small parts are kept in one file each.

A ClickHouse part is a directory of a dozen files (data, marks, checksums, columns, count, partition, min-max
index …), and every INSERT makes one; merges then make more and delete the parts they merged. On ext4 without
a journal (this project's development machines and many VMs), creating a file scans past every inode deleted
in the last one to six minutes (the kernel's `recently_deleted` check), so under steady ingest each new file
costs more the more files merges have deleted: 1,000-row inserts into `sales` took 12 ms here against 4 ms on
tmpfs, two thirds of it in that scan. ClickHouse's packed part storage writes a part below
`min_bytes_for_full_part_storage` as a single `data.packed` file (the same bytes, one inode): 4 ms on ext4.

A server reads such table defaults from its `<merge_tree>` configuration; chDB has none, so the embedded
server gives every MergeTree table in a user database this setting when it opens, and again after each
CREATE it runs (migrations, dbt, analysts). The threshold is the one at which parts turn Wide (one file per
column) anyway; larger parts stay as they are. The setting lives in the table's own definition, so a table
keeps it wherever it goes, and `ALTER TABLE … MODIFY SETTING min_bytes_for_full_part_storage = 0` turns it
off for one table (it is then left alone).
"""

from __future__ import annotations

import json
import logging

from warehouse.connection import EngineConnection, quote_identifier
from warehouse.errors import WarehouseError

log = logging.getLogger("tickettoken.warehouse")

SETTING = "min_bytes_for_full_part_storage"
PACKED_BELOW_BYTES = 10 * 1024 * 1024  # MergeTree's own min_bytes_for_wide_part
_TABLES_SQL = (
    "SELECT database, name FROM system.tables WHERE engine LIKE '%MergeTree' AND NOT is_temporary"
    " AND database NOT IN ('system', 'information_schema', 'INFORMATION_SCHEMA')"
    f" AND position(engine_full, '{SETTING}') = 0"
)


def pack_small_parts(conn: EngineConnection) -> list[str]:
    """Give every MergeTree table that does not name the setting yet its default; returns the tables changed. A
    table that refuses keeps its parts as they are (logged): it works the same, only with more files."""
    rows = conn.internal(_TABLES_SQL, "JSONCompactEachRow", {}).bytes().decode()
    changed = []
    for line in rows.splitlines():
        database, name = json.loads(line)
        table = f"{quote_identifier(database)}.{quote_identifier(name)}"
        try:
            conn.query(f"ALTER TABLE {table} MODIFY SETTING {SETTING} = {PACKED_BELOW_BYTES}", "TabSeparated", {})
        except WarehouseError as error:
            log.warning("%s keeps full part storage: %s", table, error.message)
            continue
        changed.append(f"{database}.{name}")
    return changed
