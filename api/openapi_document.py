"""What the OpenAPI document says beyond what Litestar infers: the API key, the refusals, and the ingest bodies.

The ingest handlers read their bodies themselves (JSON, NDJSON, Arrow or Parquet), so Litestar sees no body to
describe; the records' schemas come from the same msgspec Structs that validate them, bounds included.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Litestar
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.spec import Components, OpenAPIMediaType, RequestBody, SecurityRequirement, SecurityScheme

from api.ingest.streams import STREAMS

API_KEY = "apiKey"
KEYED: list[SecurityRequirement] = [{API_KEY: []}]

_REFUSALS = {
    401: "No API key, or one that is unknown or revoked.",
    403: "The key lacks the scope, or is bound to another organizer.",
    404: "No such event.",
    413: "The body, unpacked, or its number of records is over the limit; nothing was written.",
    415: "A Content-Type other than those listed, or a Content-Encoding other than gzip or deflate.",
    429: "Too many records wait to be written; retry after Retry-After seconds. Nothing was written.",
    503: "The warehouse is unavailable; nothing was acknowledged. Retry after Retry-After seconds.",
}


class Problem(msgspec.Struct, frozen=True):
    """A refusal: its status code again, and what was wrong."""

    status_code: int
    detail: str


def refusals(*codes: int) -> dict[int, ResponseSpec]:
    """The documented refusals among `_REFUSALS`, each with the body every refusal has."""
    return {code: refusal(_REFUSALS[code]) for code in codes}


def refusal(description: str) -> ResponseSpec:
    """A refusal of an endpoint's own: the body every refusal has, and what it means there."""
    return ResponseSpec(data_container=Problem, description=description, generate_examples=False)


def openapi_config(description: str) -> OpenAPIConfig:
    scheme = SecurityScheme(
        type="apiKey",
        name="X-API-Key",
        security_scheme_in="header",
        description="An API key (`tickettoken keys create`); `Authorization: Bearer <key>` is taken too.",
    )
    return OpenAPIConfig(
        title="TicketToken Analytics",
        version="0.1.0",
        description=description,
        path="/schema",
        components=Components(security_schemes={API_KEY: scheme}),
    )


def describe_ingest_bodies(app: Litestar) -> None:
    """Give each `POST /api/ingest/<stream>` its request body: the stream's record, one or an array, as JSON
    or one per NDJSON line, or the same columns as an Arrow IPC stream or file or a Parquet file."""
    openapi = app.openapi_schema
    types = [stream.record_type for stream in STREAMS.values()]
    refs, definitions = msgspec.json.schema_components(types, ref_template="#/components/schemas/{name}")
    schemas: dict[str, Any] = openapi.components.schemas  # JSON Schema as msgspec writes it: Litestar emits dicts
    schemas.update({name: _numbers_too(definition) for name, definition in definitions.items() if name not in schemas})
    columns = "The records' fields as columns (a struct column for `buyer`), one row per record."
    table = {"type": "string", "contentMediaType": "application/octet-stream", "description": columns}
    for (name, stream), ref in zip(STREAMS.items(), refs, strict=True):
        path = (openapi.paths or {}).get(f"/api/ingest/{name}")
        if path is None or path.post is None:
            continue
        record = stream.record_type.__name__
        content: dict[str, Any] = {
            "application/json": {"oneOf": [ref, {"type": "array", "items": ref}]},
            "application/x-ndjson": {**ref, "description": f"One {record} per line."},
            "application/vnd.apache.arrow.stream": table,
            "application/vnd.apache.arrow.file": table,
            "application/vnd.apache.parquet": table,
        }
        path.post.request_body = RequestBody(
            required=True,
            description=f"{record} records (their schema gives every field and bound).",
            content={media_type: OpenAPIMediaType(schema=schema) for media_type, schema in content.items()},
        )


def _numbers_too(schema: Any) -> Any:
    """`schema` with each decimal also allowed as a JSON number: msgspec decodes `49.9` into a Decimal as it
    does `"49.9"` (from the number's text, exactly), but its JSON Schema names strings only."""
    if isinstance(schema, list):
        return [_numbers_too(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if schema.get("type") == "string" and schema.get("format") == "decimal":
        rest = {key: value for key, value in schema.items() if key not in ("type", "format")}
        return {"anyOf": [{"type": "string", "format": "decimal"}, {"type": "number"}], **rest}
    return {key: _numbers_too(value) for key, value in schema.items()}
