"""Rendering migrations for one node or for a ClickHouse cluster.

Migration files are written for one node with `{database}` for the database name. On a cluster
(`TICKETTOKEN_CLICKHOUSE_CLUSTER`), every statement runs `ON CLUSTER`; each MergeTree table becomes a
Replicated one named `<table>_local` on every shard, with a Distributed table of the original name in front
of it, sharded by the `-- shard_key:` comment above the CREATE (rand() without one).
"""

from __future__ import annotations

from dataclasses import dataclass

from warehouse.sql_text import quote_literal

_MERGE_TREES = ("ReplacingMergeTree", "SummingMergeTree", "AggregatingMergeTree", "CollapsingMergeTree", "MergeTree")


@dataclass(frozen=True, slots=True)
class Statement:
    sql: str
    shard_key: str | None = None


def split_statements(text: str) -> list[Statement]:
    """Statements end with `;` at the end of a line; a `-- shard_key: expr` comment applies to the next one."""
    statements: list[Statement] = []
    lines: list[str] = []
    shard_key: str | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("-- shard_key:"):
            shard_key = stripped.removeprefix("-- shard_key:").strip()
            continue
        if not lines and (not stripped or stripped.startswith("--")):
            continue
        lines.append(line)
        if stripped.endswith(";"):
            sql = "\n".join(lines).strip().removesuffix(";").strip()
            statements.append(Statement(sql, shard_key))
            lines, shard_key = [], None
    if any(line.strip() for line in lines):
        statements.append(Statement("\n".join(lines).strip(), shard_key))
    return statements


def render(text: str, *, database: str, cluster: str | None) -> list[str]:
    """The SQL to run for one migration file."""
    rendered: list[str] = []
    for statement in split_statements(text):
        sql = statement.sql.replace("{database}", database)
        if cluster is None:
            rendered.append(sql)
        else:
            rendered.extend(_on_cluster(sql, statement.shard_key, database=database, cluster=cluster))
    return rendered


def _on_cluster(sql: str, shard_key: str | None, *, database: str, cluster: str) -> list[str]:
    on = f"ON CLUSTER {quote_literal(cluster)}"
    words = sql.split(None, 6)
    upper = [w.upper() for w in words]
    if upper[:2] == ["CREATE", "DATABASE"]:
        name_index = 5 if upper[2:5] == ["IF", "NOT", "EXISTS"] else 2
        return [_insert_after_word(sql, name_index, on)]
    if upper[:2] == ["CREATE", "TABLE"]:
        return _replicated_table(sql, shard_key, database=database, cluster=cluster)
    if upper[:2] == ["ALTER", "TABLE"]:
        table = words[2]
        local = _local_name(table)
        altered_local = _insert_after_word(sql.replace(table, local, 1), 2, on)
        if upper[3:5] in (["MODIFY", "SETTING"], ["MODIFY", "TTL"]):  # MergeTree's: not the Distributed table's
            return [altered_local]
        return [altered_local, _insert_after_word(sql, 2, on)]
    return [_insert_after_word(sql, 2, on)]


def _replicated_table(sql: str, shard_key: str | None, *, database: str, cluster: str) -> list[str]:
    words = sql.split(None, 6)
    name_index = 5 if [w.upper() for w in words[2:5]] == ["IF", "NOT", "EXISTS"] else 2
    table = words[name_index].split("(")[0]
    local = _local_name(table)
    local_sql = sql.replace(table, local, 1)
    local_sql = _insert_after_word(local_sql, name_index, f"ON CLUSTER {quote_literal(cluster)}")
    engine_at = local_sql.upper().find("ENGINE = ")
    if engine_at < 0:
        raise ValueError(f"CREATE TABLE {table} has no `ENGINE = ` clause to make replicated")
    engine_start = engine_at + len("ENGINE = ")
    engine = next((e for e in _MERGE_TREES if local_sql.startswith(e, engine_start)), None)
    if engine is None:
        raise ValueError(f"CREATE TABLE {table}: only MergeTree engines can be made replicated")
    after = local_sql[engine_start + len(engine) :]
    args = ""
    if after.startswith("("):
        close = after.find(")")
        args, after = after[1:close].strip(), after[close + 1 :]
    bare_local = local.rsplit(".", 1)[-1]
    path = quote_literal(f"/clickhouse/tables/{{shard}}/{database}/{bare_local}")
    replicated_args = ", ".join(a for a in (path, "'{replica}'", args) if a)
    local_sql = f"{local_sql[:engine_start]}Replicated{engine}({replicated_args}){after}"
    bare = table.rsplit(".", 1)[-1]
    distributed = (
        f"CREATE TABLE IF NOT EXISTS {table} ON CLUSTER {quote_literal(cluster)} AS {local}\n"
        f"ENGINE = Distributed({quote_literal(cluster)}, {quote_literal(database)}, "
        f"{quote_literal(bare + '_local')}, {shard_key or 'rand()'})"
    )
    return [local_sql, distributed]


def _local_name(table: str) -> str:
    return f"{table}_local"


def _insert_after_word(sql: str, index: int, text: str) -> str:
    """`sql` with `text` inserted after its `index`-th whitespace-separated word."""
    pos = 0
    for _ in range(index + 1):
        while sql[pos].isspace():
            pos += 1
        while pos < len(sql) and not sql[pos].isspace() and sql[pos] != "(":
            pos += 1
    return f"{sql[:pos]} {text}{sql[pos:]}"
