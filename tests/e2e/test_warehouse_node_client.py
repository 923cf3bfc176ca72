"""The official Node.js client, the npm package @clickhouse/client (tests/e2e/node, installed by `make test` with
`npm ci`), against the embedded warehouse: what a Node service or tool does with it, plain and gzip-compressed."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.support import ANALYST_PASSWORD, RW_PASSWORD, WarehouseServer

NODE_DIR = Path(__file__).parent / "node"


@pytest.mark.parametrize("compression", ["plain", "gzip"])
def test_clickhouse_client_for_node_queries_inserts_and_gets_errors(
    warehouse: WarehouseServer, compression: str
) -> None:
    node = shutil.which("node")
    if node is None or not (NODE_DIR / "node_modules" / "@clickhouse" / "client").is_dir():
        pytest.fail("node and tests/e2e/node/node_modules are needed: `make test` installs them (npm ci)")
    arguments = [warehouse.url, RW_PASSWORD, ANALYST_PASSWORD, compression, uuid.uuid4().hex[:12]]
    run = subprocess.run(
        [node, str(NODE_DIR / "clickhouse_client.mjs"), *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout)
    assert seen == {
        "ping": True,
        "parameters": [{"doubled": 42, "echoed": "it's \\ ok"}],
        "read_back": [
            {"id": 1, "name": "a", "price": "9.99", "at": "2026-11-27 01:02:03.456"},
            {"id": 2, "name": "b", "price": "0.01", "at": "2026-11-27 23:59:59.999"},
        ],
        "streamed": 200_000,
        "settings": [{"threads": 3}],
        "syntax_error": {"code": "62", "type": "SYNTAX_ERROR"},
        "unknown_table": {"code": "60", "type": "UNKNOWN_TABLE"},
        "session": [{"a": 5}],  # a temporary table, seen in its session only
        "other_session": {"code": "60", "type": "UNKNOWN_TABLE"},
        "analyst_count": [{"n": 2}],
        "analyst_insert": {"code": "164", "type": "READONLY"},
    }
