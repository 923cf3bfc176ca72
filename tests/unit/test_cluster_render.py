"""Migrations rendered for a cluster: ON CLUSTER, Replicated engines, Distributed tables."""

from __future__ import annotations

from warehouse.cluster import render, split_statements
from warehouse.migrate import MIGRATIONS_DIR

FACTS = (MIGRATIONS_DIR / "0003_facts.sql").read_text()


def test_single_node_renders_the_files_as_written() -> None:
    statements = render(FACTS, database="tt", cluster=None)
    assert len(statements) == 4
    assert statements[0].startswith("CREATE TABLE IF NOT EXISTS tt.sales")
    assert "ENGINE = ReplacingMergeTree(ingested_at)" in statements[0]
    assert not any("ON CLUSTER" in sql for sql in statements)


def test_cluster_makes_each_table_replicated_behind_a_distributed_one() -> None:
    statements = render(FACTS, database="tt", cluster="main")
    assert len(statements) == 8
    local, distributed = statements[0], statements[1]
    assert local.startswith("CREATE TABLE IF NOT EXISTS tt.sales_local ON CLUSTER 'main'")
    assert (
        "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/tt/sales_local', '{replica}', ingested_at)"
        in local
    )
    assert "ORDER BY (event_id, sale_id)" in local
    assert distributed == (
        "CREATE TABLE IF NOT EXISTS tt.sales ON CLUSTER 'main' AS tt.sales_local\n"
        "ENGINE = Distributed('main', 'tt', 'sales_local', cityHash64(event_id))"
    )


def test_cluster_database_and_alter_run_on_every_node() -> None:
    assert render("CREATE DATABASE IF NOT EXISTS {database};", database="tt", cluster="c") == [
        "CREATE DATABASE IF NOT EXISTS tt ON CLUSTER 'c'"
    ]
    altered = render("ALTER TABLE {database}.sales ADD COLUMN x UInt8;", database="tt", cluster="c")
    assert altered == [
        "ALTER TABLE tt.sales_local ON CLUSTER 'c' ADD COLUMN x UInt8",
        "ALTER TABLE tt.sales ON CLUSTER 'c' ADD COLUMN x UInt8",
    ]
    # A storage setting belongs to the MergeTree tables only: the Distributed one in front would refuse it.
    tuned = render("ALTER TABLE {database}.sales MODIFY SETTING merge_selector_base = 20;", database="tt", cluster="c")
    assert tuned == ["ALTER TABLE tt.sales_local ON CLUSTER 'c' MODIFY SETTING merge_selector_base = 20"]
    kept = render("ALTER TABLE {database}.pushed_once MODIFY TTL toDateTime(pushed_at) + INTERVAL 400 DAY;",
                  database="tt", cluster="c")  # fmt: skip
    assert kept == [
        "ALTER TABLE tt.pushed_once_local ON CLUSTER 'c' MODIFY TTL toDateTime(pushed_at) + INTERVAL 400 DAY"
    ]


def test_plain_merge_tree_without_arguments_and_default_shard_key() -> None:
    sql = "CREATE TABLE IF NOT EXISTS {database}.q\n(\n    a UInt8\n)\nENGINE = MergeTree\nORDER BY a;"
    local, distributed = render(sql, database="tt", cluster="c")
    assert "ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/tt/q_local', '{replica}')\nORDER BY a" in local
    assert distributed.endswith("'q_local', rand())")


def test_statements_split_on_line_end_semicolons_with_their_shard_keys() -> None:
    statements = split_statements(
        "-- note\n-- shard_key: k\nCREATE TABLE a (x String DEFAULT ';')\nENGINE = MergeTree;\nSELECT 1;\n"
    )
    assert [s.shard_key for s in statements] == ["k", None]
    assert statements[0].sql == "CREATE TABLE a (x String DEFAULT ';')\nENGINE = MergeTree"
