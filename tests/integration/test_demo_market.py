"""A simulated market loaded through the real API into the real warehouse: every row once, a reload changes
nothing, and every fact table takes the columnar (Arrow) path."""

from __future__ import annotations

import select
import subprocess
from datetime import timedelta

import pytest

from api.ingest.columnar import clean_facts
from api.ingest.rules import TimeWindow, utc_now
from simulator.loader import load
from simulator.market import Market, generate
from simulator.params import MarketParams
from tests.support import ApiServer, WarehouseServer, cli_env, free_port, tickettoken

TABLES = {"sale": ("sales", "sale_id"), "attendance": ("scans", "scan_id"), "revenue": ("revenue", "revenue_id"),
          "social": ("social", "post_id")}  # fmt: skip


@pytest.fixture(scope="module")
def market() -> Market:
    return generate(MarketParams(seed=101, events=12))


def test_every_fact_table_is_clean_enough_for_the_columnar_path(market: Market) -> None:
    window = TimeWindow(timedelta(days=3650), timedelta(hours=24), timedelta(days=1095))
    for stream, table in market.streams().items():
        assert clean_facts(stream, table, window, utc_now()) is not None, stream


def test_a_market_loads_once_and_a_reload_adds_nothing(
    market: Market, api_server: ApiServer, warehouse: WarehouseServer, keys: dict[str, str]
) -> None:
    first = load(market, api_server.url, keys["ingest"], show_progress=False)
    assert first["venue"].accepted == len(market.venues)
    assert first["event"].accepted == len(market.events)
    for stream, table in market.streams().items():
        assert (first[stream].accepted, first[stream].duplicates) == (table.num_rows, 0), stream
    again = load(market, api_server.url, keys["ingest"], show_progress=False)
    for stream, table in market.streams().items():
        assert (again[stream].accepted, again[stream].duplicates) == (0, table.num_rows), stream
    client = warehouse.client(database="tickettoken")
    events = [str(e["event_id"]) for e in market.events]
    for stream, table in market.streams().items():
        name, id_field = TABLES[stream]
        stored = client.query(
            f"SELECT count(), uniqExact({id_field}) FROM {name} WHERE event_id IN {{events:Array(String)}}",
            parameters={"events": events},
        ).result_rows
        assert stored == [(table.num_rows, table.num_rows)], stream
    sold = client.query(
        "SELECT sum(quantity * unit_price) FROM sales FINAL WHERE event_id IN {events:Array(String)}",
        parameters={"events": events},
    ).result_rows[0][0]
    assert sold == sum(row["quantity"] * row["unit_price"] for row in market.sales.to_pylist()), "money exact"


def test_a_demo_started_before_its_api_says_what_it_waits_for() -> None:
    """It sat silent for up to five minutes before failing; now it says so after QUIET_WAIT_SECONDS (not at once:
    `serve --demo` starts the demo beside its API)."""
    url = f"http://127.0.0.1:{free_port()}"
    command = tickettoken("demo", "--url", url, "--key", "tt_unused_key")
    process = subprocess.Popen(command, env=cli_env(), stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        ready, _, _ = select.select([process.stderr], [], [], 60)
        assert ready, "nothing said within a minute"
        assert process.stderr.readline() == f"waiting for the API at {url} (start it with `tickettoken serve`)\n"
    finally:
        process.kill()
        process.wait()


def test_a_market_too_large_for_the_memory_is_refused_before_anything_starts() -> None:
    """A market is generated whole: 10 million events would have run for minutes and ended in the kernel's OOM
    killer. Now refused at once, with what it would need (before waiting for an API: none answers here)."""
    url = f"http://127.0.0.1:{free_port()}"
    done = subprocess.run(
        tickettoken("demo", "--events", "10000000", "--url", url, "--key", "tt_unused_key"),
        env=cli_env(), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    refusal = "Invalid value for '--events' (TICKETTOKEN_DEMO_EVENTS): 10,000,000 events need about 50000.0 GB"
    assert refusal in done.stderr
    assert "ask for fewer" in done.stderr and "waiting for the API" not in done.stderr


def test_a_demo_whose_key_the_api_refuses_says_so_in_one_line(api_server: ApiServer, keys: dict[str, str]) -> None:
    """A key without the ingest scope: the API's refusal, not a traceback."""
    done = subprocess.run(
        tickettoken("demo", "--events", "1", "--url", api_server.url, "--key", keys["read"]),
        env=cli_env(), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("Error: the API refused the demo's records: 403: "), done.stderr
    assert "Traceback" not in done.stderr
