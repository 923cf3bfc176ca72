"""POST /api/ingest/<stream>: JSON, NDJSON, Arrow or Parquet bodies of one stream's records.

The six endpoints differ only in their stream, so one factory makes them (with their own operation ids and
descriptions for the OpenAPI document) instead of six copies of the same handler.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Router, post
from litestar.exceptions import NotFoundException
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import ResponseSpec
from litestar.params import Parameter, QueryParameter

from api.auth.guards import require
from api.auth.keys import ApiKey, Scope
from api.ingest.request_body import read_body
from api.ingest.schemas import IngestRejected, IngestResult
from api.ingest.services import IngestService
from api.openapi_document import KEYED, refusal, refusals

AnyRequest = Request[Any, Any, Any]
Partial = Annotated[
    bool,
    QueryParameter(
        name="partial",
        description="Write the valid records and quarantine the rest, instead of refusing the whole request.",
    ),
]
_BODY = (
    " Body: one JSON object, a JSON array, NDJSON (`application/x-ndjson`), an Arrow IPC stream or file"
    " (`application/vnd.apache.arrow.stream`, `.file`) or Parquet (`application/vnd.apache.parquet`) with the same"
    " column names (415 for other types), optionally compressed (`Content-Encoding: gzip` or `deflate`; 415 for"
    " others);"
    " at most the configured size, compressed and unpacked, and number of records (413 beyond). 200: every record"
    " committed and visible, counted as accepted, duplicates (already stored) or rejected. 422: invalid records,"
    " listed (index, field, message; at most 100), and nothing written. 400: not JSON (with the byte position),"
    " or an unreadable table."
    " 403: another organizer's events. 429/503: try again after Retry-After."
)

# stream -> (operation id, what the records are)
ENDPOINTS = {
    "sale": ("ingestSales", "Ticket sales, in a tier of their event and in its currency."),
    "attendance": ("ingestAttendance", "Gate scans (entries and exits)."),
    "revenue": ("ingestRevenue", "Revenue lines (refunds negative), in their event's currency."),
    "social": ("ingestSocial", "Social activity."),
    "event": (
        "ingestEvents",
        "Events (upserts: the latest updated_at wins, and an older version than the one stored is answered as a"
        " duplicate and not written; the currency cannot change once money is stored in another).",
    ),
    "venue": ("ingestVenues", "Venues (upserts; keys bound to an organizer cannot write them: venues are shared)."),
}


def _endpoint(stream: str, operation_id: str, what: str) -> HTTPRouteHandler:
    @post(
        f"/{stream}",
        operation_id=operation_id,
        summary=f"Ingest {stream}",
        description=what + _BODY,
        status_code=200,
        responses={422: ResponseSpec(IngestRejected, description="Invalid records, listed; nothing was written.",
                                generate_examples=False),
                   **refusals(401, 403, 413, 415, 429, 503)},
    )  # fmt: skip
    async def ingest(request: AnyRequest, partial: Partial = False) -> IngestResult:
        key: ApiKey = request.scope["api_key"]  # type: ignore[typeddict-item]
        # The worker's service, from the app's state: a dependency would cost more than the rest of a small request.
        service: IngestService = request.app.state.ingest
        body = await read_body(request.receive, service.max_body_bytes, request.content_length)
        content_type = request.headers.get("content-type", "")  # as sent: the service reads its media type
        encoding = request.headers.get("content-encoding", "")
        return await service.ingest(stream, body, content_type, key, partial=partial, encoding=encoding)

    return ingest


QuarantineId = Annotated[str, Parameter(max_length=64, description="The `quarantine_id` of an ingest answer.")]


@post(
    "/quarantine/{quarantine_id:str}/replay",
    operation_id="replayQuarantine",
    summary="Send quarantined records again",
    description="The records a `partial=true` request quarantined (its answer's `quarantine_id`), checked and written"
    " again with this key, say once the events they named have arrived: those valid now are written (or found"
    " stored already, as duplicates) and leave the quarantine; the others stay in it, listed by their index in the"
    " request that sent them, and the answer gives the same `quarantine_id` for them. 404: nothing is quarantined"
    " under that id (unknown, replayed whole already, or past the quarantine's 90 days). 403: another organizer's"
    " events; nothing written.",
    status_code=200,
    responses={**refusals(401, 403, 413, 429, 503), 404: refusal("Nothing is quarantined under that id.")},
)
async def replay(request: AnyRequest, quarantine_id: QuarantineId) -> IngestResult:
    key: ApiKey = request.scope["api_key"]  # type: ignore[typeddict-item]
    service: IngestService = request.app.state.ingest
    result = await service.replay(quarantine_id, key)
    if result is None:
        raise NotFoundException(f"nothing is quarantined under {quarantine_id!r}")
    return result


ingest_router = Router(
    path="/api/ingest",
    tags=["ingest"],
    security=KEYED,
    middleware=[require(Scope.INGEST)],
    route_handlers=[*(_endpoint(stream, *spec) for stream, spec in ENDPOINTS.items()), replay],
)
