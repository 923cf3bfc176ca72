"""`tickettoken serve --demo` (what `make run` starts): on an empty warehouse it loads a market through the
API, then keeps sending live traffic; on the next start it loads nothing again."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import clickhouse_connect

from tests.support import cli_env, free_port, start_logged, stop_process, tickettoken


def _eventually(check: Callable[[], bool], what: str, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def test_serve_demo_loads_a_market_once_then_sends_live_sales(tmp_path: Path) -> None:
    warehouse_port, api_port = free_port(), free_port()
    env = cli_env(
        {
            "TICKETTOKEN_DATA_DIR": str(tmp_path / "data"),
            "TICKETTOKEN_CLICKHOUSE_URL": f"http://127.0.0.1:{warehouse_port}",
            "TICKETTOKEN_PORT": str(api_port),
            "TICKETTOKEN_DEMO_EVENTS": "40",  # enough for some to be on sale now (with the default seed: 3)
        }
    )
    log = tmp_path / "serve.log"
    health = f"http://127.0.0.1:{api_port}/health"
    process = start_logged(tickettoken("serve", "--demo"), env, log, health)
    try:
        # No username: clickhouse-connect then sends no credentials, for ClickHouse's user `default` (here the
        # read-write user, without a password by default); the server refused such requests once.
        client = clickhouse_connect.get_client(host="127.0.0.1", port=warehouse_port)

        def sales() -> int:
            return int(client.command("SELECT count() FROM tickettoken.sales"))  # type: ignore[arg-type]

        _eventually(lambda: "social " in log.read_text() and "already there" in log.read_text(), "the load")
        loaded = sales()
        assert loaded > 1000
        assert int(client.command("SELECT count() FROM tickettoken.events")) == 40  # type: ignore[arg-type]
        _eventually(lambda: sales() > loaded, "live sales", timeout=60)
        live = int(client.command("SELECT count() FROM tickettoken.sales WHERE sale_id LIKE '%-live-%'"))  # type: ignore[arg-type]
        assert live >= 1
    finally:
        stop_process(process)
    process = start_logged(tickettoken("serve", "--demo"), env, log, health)
    try:
        _eventually(lambda: "nothing loaded" in log.read_text(), "the second start to skip the load", timeout=60)
    finally:
        stop_process(process)
