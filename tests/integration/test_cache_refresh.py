"""A worker's caches of the warehouse under steady use (api/refresh_ahead.py), against the real warehouse: an API
key and an event in use never expire, yet what another worker changes (a revocation, new tiers) still shows
within the cache's time; and requests that miss the catalog together share one read."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

import api.auth.keys
import api.ingest.catalog
from api.auth.keys import ApiKey, KeyStore, Scope
from api.ingest.catalog import Catalog
from tests import factories as f
from tests.support import ApiServer, WarehouseServer

CACHE_SECONDS = 2.0
REFRESH_AFTER_SECONDS = 0.5
STEADY_SECONDS = 2 * CACHE_SECONDS  # in use for longer than an entry lives


def test_a_key_in_steady_use_never_expires_and_its_revocation_still_takes_effect_in_time(
    warehouse: WarehouseServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api.auth.keys, "CACHE_SECONDS", CACHE_SECONDS)
    monkeypatch.setattr(api.auth.keys, "REFRESH_AFTER_SECONDS", REFRESH_AFTER_SECONDS)
    store = KeyStore(warehouse.client(database="tickettoken"))
    key, record = store.create({Scope.READ})
    assert store.authenticate(key) is not None
    until = time.monotonic() + STEADY_SECONDS
    while time.monotonic() < until:
        found = store.authenticate_cached(key)  # never True: the cache always tells
        assert isinstance(found, ApiKey) and found.key_id == record.key_id
        time.sleep(0.01)
    KeyStore(warehouse.client(database="tickettoken")).revoke(record.key_id)  # another worker, or the CLI
    revoked_at = time.monotonic()  # committed by now: a read begun before may still hold the key, never for longer
    while True:
        found = store.authenticate_cached(key)
        if found is True:
            found = store.authenticate(key)
        if found is None:
            break
        assert time.monotonic() - revoked_at < CACHE_SECONDS + 0.1
        time.sleep(0.01)


def _event(api_server: ApiServer, keys: dict[str, str], **overrides: Any) -> dict[str, Any]:
    venue = f.venue()
    event = f.event(venue["venue_id"], **overrides)
    api_server.ingest(keys["ingest"], "venue", venue)
    api_server.ingest(keys["ingest"], "event", event)
    return event


def test_an_event_in_steady_use_never_expires_and_its_new_tiers_show_in_time(
    api_server: ApiServer, warehouse: WarehouseServer, keys: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api.ingest.catalog, "CACHE_SECONDS", CACHE_SECONDS)
    monkeypatch.setattr(api.ingest.catalog, "REFRESH_AFTER_SECONDS", REFRESH_AFTER_SECONDS)
    event = _event(api_server, keys)
    event_id = str(event["event_id"])
    catalog = Catalog(lambda: warehouse.client(database="tickettoken"))
    assert catalog.events([event_id])[event_id].tiers == {"GA", "VIP"}
    until = time.monotonic() + STEADY_SECONDS
    while time.monotonic() < until:
        assert catalog.cached_events([event_id]) is not None
        time.sleep(0.01)
    tiers = [*event["tiers"], {"name": "Balcony", "price": "39.00", "capacity": 200}]
    api_server.ingest(keys["ingest"], "event", {**event, "tiers": tiers, "updated_at": f._iso(f.now())})
    changed_at = time.monotonic()  # committed by now
    while True:
        cached = catalog.cached_events([event_id])
        assert cached is not None
        if "Balcony" in cached[event_id].tiers:
            break
        assert time.monotonic() - changed_at < CACHE_SECONDS + 0.1
        time.sleep(0.01)


def test_requests_that_miss_the_catalog_together_share_one_read(
    api_server: ApiServer, warehouse: WarehouseServer, keys: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    event_ids = [str(_event(api_server, keys)["event_id"]) for _ in range(6)]
    catalog = Catalog(lambda: warehouse.client(database="tickettoken"))
    reads: list[list[str]] = []
    read = Catalog._read

    def counted(self: Catalog, ids: list[str]) -> dict[str, api.ingest.catalog.EventInfo]:
        reads.append(ids)
        return read(self, ids)

    monkeypatch.setattr(Catalog, "_read", counted)
    found: dict[str, set[str]] = {}
    with catalog._reading:  # a read in flight (after a restart, say) while requests for six events arrive
        threads = [threading.Thread(target=lambda e=e: found.update({e: set(catalog.events([e]))})) for e in event_ids]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 10
        while len(catalog._wanted) < len(event_ids) and time.monotonic() < deadline:
            time.sleep(0.01)
    for thread in threads:
        thread.join(10)
    assert found == {e: {e} for e in event_ids}
    assert reads == [sorted(event_ids)]
