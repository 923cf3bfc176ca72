"""Clean small JSON bodies of facts are committed before routing (api/ingest/fast_path.py), through the real
server and warehouse: the same answer as the route's, each record stored once, and every request the fast path
cannot vouch for answered by the route as before."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from tests import factories as f
from tests.support import ApiServer, WarehouseServer

FAST = "tickettoken_ingest_fast_total"


@pytest.fixture
def event_id(api_server: ApiServer, keys: dict[str, str]) -> str:
    """An org-1 event, with one sale already through (which puts the event in the worker's catalog cache)."""
    venue = f.venue()
    event = f.event(venue["venue_id"])
    for stream, record in (("venue", venue), ("event", event), ("sale", f.sale(event["event_id"]))):
        api_server.ingest(keys["ingest"], stream, record)
    return str(event["event_id"])


def _post(api: ApiServer, key: str | None, body: Any, *, path: str = "/api/ingest/sale",
          content_type: str = "application/json") -> httpx.Response:  # fmt: skip
    headers = {"Content-Type": content_type, **({"X-API-Key": key} if key else {})}
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(f"{api.url}{path}", content=raw, headers=headers)


def _stored(warehouse: WarehouseServer, sale_ids: list[str]) -> int:
    client = warehouse.client(database="tickettoken")
    found = client.command("SELECT count() FROM sales WHERE sale_id IN {ids:Array(String)}", {"ids": sale_ids})
    return int(found)  # type: ignore[arg-type]


def test_a_clean_sale_is_committed_before_routing_with_the_routes_answer(
    api_server: ApiServer, warehouse: WarehouseServer, keys: dict[str, str], event_id: str
) -> None:
    fast, routed = f.sale(event_id), f.sale(event_id)
    before = api_server.metric(keys["admin"], FAST)
    first = _post(api_server, keys["ingest"], fast)
    assert api_server.metric(keys["admin"], FAST) == before + 1
    # `?partial=false` means the same and always goes to the route: the two answers must not differ.
    through_route = _post(api_server, keys["ingest"], routed, path="/api/ingest/sale?partial=false")
    assert api_server.metric(keys["admin"], FAST) == before + 1
    for answer in (first, through_route):
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == "application/json"
    assert first.content == through_route.content
    assert first.json() == {
        "accepted": 1,
        "duplicates": 0,
        "rejected": 0,
        "errors": [],
        "quarantined": 0,
        "quarantine_id": None,
    }
    # Sent again (alone, and in an array with a new one): counted as a duplicate, stored once.
    again = _post(api_server, keys["ingest"], fast)
    bearer = httpx.post(
        f"{api_server.url}/api/ingest/sale", json=[fast, third := f.sale(event_id)],
        headers={"Authorization": f"Bearer {keys['ingest']}"},
    )  # fmt: skip
    assert api_server.metric(keys["admin"], FAST) == before + 3
    assert again.json() == {
        "accepted": 0,
        "duplicates": 1,
        "rejected": 0,
        "errors": [],
        "quarantined": 0,
        "quarantine_id": None,
    }
    assert bearer.json()["accepted"] == 1 and bearer.json()["duplicates"] == 1
    assert _stored(warehouse, [fast["sale_id"], routed["sale_id"], third["sale_id"]]) == 3
    # Both ways are counted under the route's own label.
    paths = set(re.findall(r'tickettoken_requests_total\{method="POST",path="(/api/ingest/sale[^"]*)"',
                           api_server.metrics_text(keys["admin"])))  # fmt: skip
    assert paths == {"/api/ingest/sale"}


@pytest.mark.parametrize(
    ("role", "change", "status", "field"),
    [
        ("ingest", {"quantity": 0}, 422, "quantity"),  # a bad value: listed by the route, nothing written
        ("ingest", {"tier": "Balcony"}, 422, "tier"),  # not a tier of the event
        ("ingest", {"currency": "USD"}, 422, "currency"),  # not the event's currency
        ("ingest", {"event_id": "no-such-event"}, 422, "event_id"),  # not in the catalog
        (None, {}, 401, None),  # no key
        # Another scope, and another organizer's key: each twice, as the second time it is in the key cache.
        ("read", {}, 403, None),
        ("read", {}, 403, None),
        ("org2", {}, 403, None),
        ("org2", {}, 403, None),
    ],
)
def test_what_the_fast_path_cannot_vouch_for_is_answered_by_the_route(
    api_server: ApiServer,
    warehouse: WarehouseServer,
    keys: dict[str, str],
    event_id: str,
    *,
    role: str | None,
    change: dict[str, Any],
    status: int,
    field: str | None,
) -> None:
    sale = {**f.sale(event_id), **change}
    before = api_server.metric(keys["admin"], FAST)
    answer = _post(api_server, keys[role] if role else None, sale)
    assert answer.status_code == status, answer.text
    if field is not None:
        assert [error["field"] for error in answer.json()["errors"]] == [field]
    assert api_server.metric(keys["admin"], FAST) == before
    assert _stored(warehouse, [sale["sale_id"]]) == 0


def test_other_bodies_and_streams_go_to_the_route(
    api_server: ApiServer, warehouse: WarehouseServer, keys: dict[str, str], event_id: str
) -> None:
    before = api_server.metric(keys["admin"], FAST)
    key = keys["ingest"]
    assert _post(api_server, key, b'{"sale_id": "x",').status_code == 400  # not JSON: the route says where
    ndjson = [f.sale(event_id), f.sale(event_id)]
    lines = b"\n".join(json.dumps(sale).encode() for sale in ndjson)
    assert _post(api_server, key, lines, content_type="application/x-ndjson").json()["accepted"] == 2
    partial = [f.sale(event_id), {**f.sale(event_id), "quantity": 0}]
    answer = _post(api_server, key, partial, path="/api/ingest/sale?partial=true")
    assert (answer.json()["accepted"], answer.json()["quarantined"]) == (1, 1)
    venue = f.venue()
    assert _post(api_server, key, venue, path="/api/ingest/venue").json()["accepted"] == 1
    assert api_server.metric(keys["admin"], FAST) == before
    assert _stored(warehouse, [sale["sale_id"] for sale in [*ndjson, *partial]]) == 3
