"""The OpenAPI document describes what the API takes and answers: the ingest bodies, the key, the refusals."""

from __future__ import annotations

from typing import Any

import jsonschema
import msgspec
import pytest

from api.app import create_app
from tests import factories as f


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    schema: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(create_app().openapi_schema.to_schema()))
    return schema


def _body_validator(document: dict[str, Any], stream: str, media_type: str) -> jsonschema.Draft202012Validator:
    body = document["paths"][f"/api/ingest/{stream}"]["post"]["requestBody"]["content"][media_type]["schema"]
    return jsonschema.Draft202012Validator({**body, "components": document["components"]})


def _records() -> dict[str, dict[str, Any]]:
    venue = f.venue()
    event = f.event(venue["venue_id"])
    e = event["event_id"]
    return {
        "venue": venue, "event": event, "sale": f.sale(e, unit_price=49.9), "attendance": f.scan(e),
        "revenue": f.revenue(e), "social": f.social(e),
    }  # fmt: skip


def test_each_ingest_body_is_its_record_one_or_many(document: dict[str, Any]) -> None:
    """The handlers read their bodies themselves, so Litestar documented none: the contract was nowhere in the
    document. A record the API takes validates (a price as a JSON number too), one it refuses does not."""
    for stream, record in _records().items():
        as_json = _body_validator(document, stream, "application/json")
        as_json.validate(record)
        as_json.validate([record, record])
        _body_validator(document, stream, "application/x-ndjson").validate(record)
    sale = _records()["sale"]
    errors = list(_body_validator(document, "sale", "application/json").iter_errors({**sale, "quantity": 0}))
    assert errors, "quantity 0 is refused by the API, so by the document too"
    missing = {key: value for key, value in sale.items() if key != "event_id"}
    assert not _body_validator(document, "sale", "application/json").is_valid(missing)
    post = document["paths"]["/api/ingest/sale"]["post"]
    assert {
        "application/vnd.apache.arrow.stream",
        "application/vnd.apache.arrow.file",
        "application/vnd.apache.parquet",
    } <= set(post["requestBody"]["content"])


def test_the_key_and_the_refusals_are_documented(document: dict[str, Any]) -> None:
    assert document["components"]["securitySchemes"]["apiKey"] == {
        "type": "apiKey", "name": "X-API-Key", "in": "header",
        "description": "An API key (`tickettoken keys create`); `Authorization: Bearer <key>` is taken too.",
    }  # fmt: skip
    ingest = document["paths"]["/api/ingest/sale"]["post"]
    live = document["paths"]["/api/realtime/sales/{event_id}"]["get"]
    assert ingest["security"] == live["security"] == [{"apiKey": []}]
    assert "security" not in document["paths"]["/health"]["get"], "health and readiness need no key"
    assert {"401", "403", "413", "415", "422", "429", "503"} <= set(ingest["responses"])
    assert {"401", "403", "404"} <= set(live["responses"])
    rejected = document["components"]["schemas"]["IngestRejected"]
    assert "examples" not in rejected, "Litestar's made-up examples (status_code 9361) are left out"
