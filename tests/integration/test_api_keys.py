"""API keys end to end: the CLI makes and revokes them, the API admits them by scope."""

from __future__ import annotations

import hashlib
import re
import socket
import subprocess
from datetime import UTC, timedelta
from pathlib import Path
from typing import get_args

from clickhouse_connect.driver.client import Client
from litestar.testing import TestClient

from api.app import create_app
from api.auth.keys import KeyStore, Scope
from api.ingest.schemas import Id
from tests.support import WarehouseServer, cli_env, free_port, tickettoken
from tickettoken.cli import ORGANIZER_ID_MAX


def _cli(warehouse: WarehouseServer, *args: str) -> subprocess.CompletedProcess[str]:
    return warehouse.run_cli("keys", *args)


def _create(warehouse: WarehouseServer, *args: str) -> str:
    result = _cli(warehouse, "create", *args)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_keys_are_printed_once_and_stored_hashed(warehouse: WarehouseServer, client: Client) -> None:
    key = _create(warehouse, "--scope", "ingest", "--organizer", "org-1", "--name", "box office feed")
    prefix, key_id, secret = key.split("_")
    assert prefix == "tt"
    stored = client.query(
        "SELECT secret_hash, scopes, organizer_id FROM tickettoken.api_keys FINAL WHERE key_id = {k:String}",
        parameters={"k": key_id},
    ).result_rows
    assert stored == [(hashlib.sha256(secret.encode()).hexdigest(), ["ingest"], "org-1")]
    listing = _cli(warehouse, "list").stdout
    assert key_id in listing
    assert secret not in listing
    header, *rows = listing.splitlines()
    assert header.split() == ["id", "scopes", "organizer", "created", "(UTC)", "state", "name"]
    mine = next(row for row in rows if row.startswith(key_id)).split()
    assert (mine[1], mine[2], mine[5]) == ("ingest", "org-1", "active")


def test_scopes_on_an_admin_endpoint(warehouse: WarehouseServer) -> None:
    admin = _create(warehouse, "--scope", "admin")
    ingest = _create(warehouse, "--scope", "ingest")
    with TestClient(app=create_app(warehouse.settings())) as api:
        assert api.get("/metrics").status_code == 401
        assert api.get("/metrics", headers={"X-API-Key": "tt_nothing_here"}).status_code == 401
        assert api.get("/metrics", headers={"X-API-Key": "not-a-key"}).status_code == 401
        forbidden = api.get("/metrics", headers={"X-API-Key": ingest})
        assert forbidden.status_code == 403
        assert "'admin' scope" in forbidden.text
        assert api.get("/metrics", headers={"X-API-Key": admin}).status_code == 200
        assert api.get("/metrics", headers={"Authorization": f"Bearer {admin}"}).status_code == 200
        wrong_secret = admin.rsplit("_", 1)[0] + "_wrongsecret"
        assert api.get("/metrics", headers={"X-API-Key": wrong_secret}).status_code == 401
        # Health, readiness and the docs need no key.
        assert api.get("/health").status_code == 200
        assert api.get("/schema/openapi.json").status_code == 200


def test_a_revoked_key_is_refused(warehouse: WarehouseServer) -> None:
    admin = _create(warehouse, "--scope", "admin")
    key_id = admin.split("_")[1]
    revoked = _cli(warehouse, "revoke", key_id)
    assert revoked.returncode == 0, revoked.stderr
    listed = next(line for line in _cli(warehouse, "list").stdout.splitlines() if line.startswith(key_id))
    assert re.search(r"revoked \d{4}-\d\d-\d\d \d\d:\d\d UTC", listed), listed
    with TestClient(app=create_app(warehouse.settings())) as api:
        assert api.get("/metrics", headers={"X-API-Key": admin}).status_code == 401
    assert _cli(warehouse, "revoke", "no-such-key").returncode != 0


def test_a_key_read_back_has_its_times_in_utc(warehouse: WarehouseServer) -> None:
    store = KeyStore(warehouse.client(database="tickettoken"))
    key, made = store.create({Scope.READ})
    revoked = store.revoke(made.key_id)
    found = KeyStore(warehouse.client(database="tickettoken")).list()
    record = next(k for k in found if k.key_id == made.key_id)
    assert record.created_at.tzinfo is UTC and abs(record.created_at - made.created_at) < timedelta(milliseconds=1)
    assert record.revoked_at is not None and revoked.revoked_at is not None
    assert record.revoked_at.tzinfo is UTC and abs(record.revoked_at - revoked.revoked_at) < timedelta(milliseconds=1)
    assert KeyStore(warehouse.client(database="tickettoken")).authenticate(key) is None


def test_the_cli_refuses_bad_arguments_before_doing_anything(warehouse: WarehouseServer, client: Client) -> None:
    """Each is refused at once (usage error, exit 2) naming the option; no key is made, no server started."""
    before = client.command("SELECT count() FROM tickettoken.api_keys")
    refused = [
        # An empty organizer made a key of every organizer: `--organizer "$ORG"` with ORG unset.
        (("keys", "create", "--scope", "ingest", "--organizer", ""), "--organizer"),
        (("keys", "create", "--scope", "ingest", "--organizer", "o" * (ORGANIZER_ID_MAX + 1)), "--organizer"),
        (("sql", "  "), "SQL statement"),
        (("serve", "--port", "99999"), "--port"),
        (("serve", "--workers", "0"), "--workers"),
        (("warehouse", "serve", "--port", "0"), "--port"),
        (("demo", "--events", "0"), "--events"),
        (("demo", "--rate", "0"), "--rate"),
        # Before waiting for an API (none runs here): a time that is not one, or has no zone, is said at once.
        (("demo", "--now", "yesterday"), "--now"),
        (("demo", "--now", "2026-06-01T00:00:00"), "--now"),
    ]
    for args, named in refused:
        result = warehouse.run_cli(*args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert named in result.stderr, (args, result.stderr)
    assert client.command("SELECT count() FROM tickettoken.api_keys") == before


def test_the_cli_bounds_organizers_as_the_ingest_contract_does() -> None:
    bounds = {type(meta).__name__: meta for meta in get_args(Id)[1:]}
    assert bounds["Meta"].max_length == ORGANIZER_ID_MAX


def test_key_commands_start_the_embedded_warehouse_when_it_is_not_running(tmp_path: Path) -> None:
    """With the service stopped, `keys create` printed a traceback (connection refused); an operator makes the
    first keys before starting anything. Now the embedded warehouse runs for the command, and one that does not
    answer elsewhere is one line."""
    port = free_port()
    env = cli_env({"TICKETTOKEN_DATA_DIR": str(tmp_path), "TICKETTOKEN_CLICKHOUSE_URL": f"http://127.0.0.1:{port}"})

    def run(*args: str, extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(tickettoken("keys", *args), env={**env, **(extra or {})}, capture_output=True,
                              text=True, timeout=120, check=False)  # fmt: skip

    made = run("create", "--scope", "read", "--name", "first")
    assert made.returncode == 0, made.stderr
    assert f"started the embedded one on {tmp_path}" in made.stderr
    assert "Traceback" not in made.stderr and "uvicorn" not in made.stdout + made.stderr, "its log goes to a file"
    key_id = made.stdout.splitlines()[-1].split("_")[1]
    listed = run("list")
    assert listed.returncode == 0 and key_id in listed.stdout and "first" in listed.stdout
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0, "the warehouse stopped with the command"
    elsewhere = run("list", extra={"TICKETTOKEN_CLICKHOUSE_URL": f"https://127.0.0.1:{port}"})  # not the embedded
    assert elsewhere.returncode == 1
    assert elsewhere.stderr == f"Error: the warehouse at https://127.0.0.1:{port} did not answer (Connection refused)\n"
