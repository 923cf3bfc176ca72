"""Settings from the environment, and errors in ClickHouse's shape."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support import cli_env, tickettoken
from tickettoken.settings import SettingsError, load_settings
from warehouse.client import client_options
from warehouse.errors import WarehouseError, http_status_for


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CLICKHOUSE_URL", "DATA_DIR", "REDIS_URL", "PORT", "CLICKHOUSE_CLUSTER", "INGEST_GATHER_MS"):
        monkeypatch.delenv(f"TICKETTOKEN_{name}", raising=False)
    settings = load_settings()
    assert settings.warehouse.clickhouse_url == "http://127.0.0.1:8123"
    assert settings.warehouse.is_embedded
    assert settings.warehouse.warehouse_dir == Path("./data").resolve() / "warehouse"
    assert settings.warehouse.cluster is None
    assert settings.redis.url is None
    assert settings.api.port == 3009
    assert settings.ingest.gather_seconds == 0.05


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKETTOKEN_CLICKHOUSE_URL", "https://ch.example.internal:8443")
    monkeypatch.setenv("TICKETTOKEN_REDIS_URL", "redis://cache:6379/0")
    monkeypatch.setenv("TICKETTOKEN_PORT", "4000")
    monkeypatch.setenv("TICKETTOKEN_INGEST_GATHER_MS", "0")
    settings = load_settings()
    assert not settings.warehouse.is_embedded
    assert (settings.warehouse.host, settings.warehouse.port, settings.warehouse.secure) == (
        "ch.example.internal",
        8443,
        True,
    )
    assert settings.redis.url == "redis://cache:6379/0"
    assert settings.api.port == 4000
    assert settings.ingest.gather_seconds == 0


def test_a_bad_number_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKETTOKEN_PORT", "lots")
    with pytest.raises(ValueError, match="TICKETTOKEN_PORT must be an integer"):
        load_settings()


def test_a_negative_wait_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKETTOKEN_INGEST_GATHER_MS", "-5")
    with pytest.raises(ValueError, match="TICKETTOKEN_INGEST_GATHER_MS must be 0 or more, got -5"):
        load_settings()


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PORT", "0", "must be from 1 to 65535, got 0"),
        ("PORT", "70000", "must be from 1 to 65535, got 70000"),
        ("WORKERS", "0", "must be 1 or more, got 0"),
        ("KEEP_ALIVE_SECONDS", "0", "must be 1 or more, got 0"),
        ("INGEST_MAX_PENDING_RECORDS", "-1", "must be 1 or more, got -1"),
        ("MILESTONE_SHARES", "0.5,1.5", "must be numbers above 0 and at most 1, got '0.5,1.5'"),
        ("REVENUE_MILESTONES", "0,100", "must be numbers above 0, got '0,100'"),
        (
            "REDIS_URL",
            "http://user:secret@cache:6379",
            "must be a redis://, rediss:// or unix:// URL, got 'cache:6379'",
        ),
    ],
)
def test_values_out_of_bounds_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    """Taken as they were: a worker count of 0, a queue of -1 records, a milestone at 150% of capacity."""
    monkeypatch.setenv(f"TICKETTOKEN_{name}", value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert str(raised.value) == f"TICKETTOKEN_{name} {message}"


def test_the_commands_say_it_in_one_line() -> None:
    """A traceback ended in the message."""
    done = subprocess.run(tickettoken("keys", "list"), env=cli_env({"TICKETTOKEN_PORT": "lots"}), capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip
    assert (done.returncode, done.stderr) == (1, "Error: TICKETTOKEN_PORT must be an integer, got 'lots'\n")


def test_engine_errors_keep_their_code_and_text() -> None:
    error = WarehouseError.from_engine(RuntimeError("Streaming query failed: Code: 60. DB::Exception: no table"))
    assert error.code == 60
    assert error.http_status == 404
    assert error.body() == "Code: 60. DB::Exception: no table\n"
    assert WarehouseError(36, "bad").body() == "Code: 36. DB::Exception: bad\n"
    assert (http_status_for(62), http_status_for(516), http_status_for(164), http_status_for(999)) == (
        400,
        401,
        403,
        500,
    )


@pytest.mark.parametrize(
    ("url", "compressed"),
    [("http://127.0.0.1:8123", False), ("http://localhost:18123", False), ("https://ch.example.internal:8443", True),
     ("http://10.0.0.7:8123", True)],
)  # fmt: skip
def test_warehouse_traffic_is_compressed_only_off_loopback(
    monkeypatch: pytest.MonkeyPatch, url: str, compressed: bool
) -> None:
    """lz4 both ways saves a network's bytes; on loopback it only costs both ends CPU."""
    monkeypatch.setenv("TICKETTOKEN_CLICKHOUSE_URL", url)
    assert client_options(load_settings().warehouse, None, None, None)["compress"] is compressed
