"""Live answers in memory are sent before routing (api/realtime/fast_path.py), through the real server: the same
answer as the route's, and every request the fast path cannot vouch for answered by the route as before."""

from __future__ import annotations

import re

import httpx
import pytest

from api.auth.keys import KeyStore, Scope
from tests import factories as f
from tests.support import ApiServer, WarehouseServer

FAST = "tickettoken_live_fast_answers_total"


@pytest.fixture(scope="module")
def readers(warehouse: WarehouseServer) -> dict[str, str]:
    """Read keys bound to org-1 and to org-2."""
    store = KeyStore(warehouse.client(database="tickettoken"))
    return {org: store.create({Scope.READ}, organizer_id=org)[0] for org in ("org-1", "org-2")}


@pytest.fixture
def event_id(api_server: ApiServer, keys: dict[str, str]) -> str:
    """An org-1 event with one sale."""
    venue = f.venue()
    event = f.event(venue["venue_id"], capacity=100, tiers=[{"name": "GA", "price": "10.00", "capacity": 100}])
    for stream, record in (("venue", venue), ("event", event), ("sale", f.sale(event["event_id"], tier="GA"))):
        api_server.ingest(keys["ingest"], stream, record)
    return str(event["event_id"])


def _get(api: ApiServer, path: str, **headers: str) -> httpx.Response:
    return httpx.get(f"{api.url}{path}", headers=headers)


def test_a_polled_answer_is_sent_from_memory_as_the_route_sent_it(
    api_server: ApiServer, keys: dict[str, str], readers: dict[str, str], event_id: str
) -> None:
    path = f"/api/realtime/sales/{event_id}"
    first = _get(api_server, path, **{"X-API-Key": readers["org-1"]})  # computed by the route, then cached
    assert first.status_code == 200, first.text
    before = api_server.metric(keys["admin"], FAST, view="sales")
    again = _get(api_server, path, **{"X-API-Key": readers["org-1"]})
    bearer = _get(api_server, path, Authorization=f"Bearer {readers['org-1']}")
    assert api_server.metric(keys["admin"], FAST, view="sales") == before + 2
    for answer in (again, bearer):
        assert answer.status_code == 200
        assert answer.content == first.content
        assert answer.headers["content-type"] == first.headers["content-type"] == "application/json"
    assert first.json()["tickets"] == 2
    # Both ways are counted under the route's own label.
    paths = set(re.findall(r'tickettoken_requests_total\{method="GET",path="(/api/realtime/sales/[^"]*)"',
                           api_server.metrics_text(keys["admin"])))  # fmt: skip
    assert paths == {"/api/realtime/sales/{event_id}"}


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),  # no key
        ({"X-API-Key": "tt_nosuchkey_secret"}, 401),  # not a key
        ("ingest", 403),  # another scope
        ("org-2", 403),  # another organizer's key, twice: the second time it is in the key cache
        ("org-2", 403),
    ],
)
def test_what_the_fast_path_cannot_vouch_for_is_answered_by_the_route(
    api_server: ApiServer,
    keys: dict[str, str],
    readers: dict[str, str],
    event_id: str,
    *,
    headers: dict[str, str] | str,
    status: int,
) -> None:
    path = f"/api/realtime/sales/{event_id}"
    assert _get(api_server, path, **{"X-API-Key": readers["org-1"]}).status_code == 200  # the answer is cached
    if isinstance(headers, str):
        headers = {"X-API-Key": keys[headers] if headers in keys else readers[headers]}
    before = api_server.metric(keys["admin"], FAST, view="sales")
    answer = _get(api_server, path, **headers)
    assert answer.status_code == status, answer.text
    assert "tickets" not in answer.text
    assert api_server.metric(keys["admin"], FAST, view="sales") == before


def test_parameters_unknown_events_and_views_go_to_the_route(
    api_server: ApiServer, keys: dict[str, str], readers: dict[str, str], event_id: str
) -> None:
    read = {"X-API-Key": readers["org-1"]}
    assert _get(api_server, f"/api/realtime/revenue/{event_id}", **read).status_code == 200
    before = api_server.metric(keys["admin"], FAST, view="revenue")
    assert _get(api_server, f"/api/realtime/revenue/{event_id}?window=30", **read).status_code == 200
    assert _get(api_server, f"/api/realtime/revenue/{event_id}?tz=Nowhere/Atlantis", **read).status_code == 400
    assert _get(api_server, "/api/realtime/revenue/no-such-event", **read).status_code == 404
    assert _get(api_server, f"/api/realtime/refunds/{event_id}", **read).status_code == 404
    assert api_server.metric(keys["admin"], FAST, view="revenue") == before
