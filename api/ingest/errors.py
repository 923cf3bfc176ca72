"""How ingest failures reach clients: 400, 403, 413, 415, 422, 429 and 503, each saying what to do (and 499, for
/metrics only, when the client left before it had sent its body)."""

from __future__ import annotations

import logging

from clickhouse_connect.driver.exceptions import DatabaseError
from litestar import Request, Response
from litestar.types import ExceptionHandlersMap

from api.ingest.decoding import MalformedBody
from api.ingest.encodings import BadEncoding, UnpacksTooLarge, UnsupportedEncoding
from api.ingest.media_types import UnsupportedMediaType
from api.ingest.request_body import CLIENT_GONE, BodyTooLarge, ClientGone
from api.ingest.schemas import IngestRejected
from api.ingest.services import ForeignOrganizer, InvalidRecords
from api.ingest.table_body import UnreadableTable
from api.ingest.writer import Overloaded, TooManyRecords
from api.responses import detail_response

log = logging.getLogger("tickettoken.ingest")
RETRY_AFTER_SECONDS = "1"


def _invalid(_: Request, error: InvalidRecords) -> Response[IngestRejected]:  # type: ignore[type-arg]
    result = error.result
    body = IngestRejected(
        status_code=422,
        detail=f"{result.rejected} invalid record(s); nothing was written (use ?partial=true to write the rest)",
        accepted=0,
        duplicates=0,
        rejected=result.rejected,
        errors=result.errors,
    )
    return Response(body, status_code=422)


def _malformed(_: Request, error: MalformedBody) -> Response[dict[str, object]]:  # type: ignore[type-arg]
    return detail_response(400, f"the body is not valid JSON: {error}")


def _bad_body(_: Request, error: UnreadableTable | BadEncoding) -> Response[dict[str, object]]:  # type: ignore[type-arg]
    """A body that is not what it says it is (an unreadable table, or not its Content-Encoding): its message."""
    return detail_response(400, str(error))


def _unsupported(_: Request, error: UnsupportedEncoding | UnsupportedMediaType) -> Response[dict[str, object]]:  # type: ignore[type-arg]
    return detail_response(415, str(error))


def _too_large(_: Request, error: BodyTooLarge | UnpacksTooLarge) -> Response[dict[str, object]]:  # type: ignore[type-arg]
    return detail_response(413, f"{error} (TICKETTOKEN_MAX_BODY_BYTES): split the request; nothing was written")


def _client_gone(_: Request, error: ClientGone) -> Response[None]:  # type: ignore[type-arg]
    return Response(None, status_code=CLIENT_GONE)  # no one reads it: the server drops it


def _foreign(_: Request, error: ForeignOrganizer) -> Response[dict[str, object]]:  # type: ignore[type-arg]
    return detail_response(403, f"{error}; nothing was written")


def _overloaded(_: Request, error: Overloaded) -> Response[dict[str, object]]:  # type: ignore[type-arg]
    return detail_response(429, f"too busy: {error}; retry later", {"Retry-After": RETRY_AFTER_SECONDS})


def _too_many(_: Request, error: TooManyRecords) -> Response[dict[str, object]]:  # type: ignore[type-arg]
    return detail_response(
        413, f"{error} (TICKETTOKEN_INGEST_MAX_PENDING_RECORDS): split the request; nothing was written"
    )


def _warehouse_down(_: Request, error: DatabaseError) -> Response[dict[str, object]]:  # type: ignore[type-arg]
    log.warning("warehouse unavailable: %s", error)
    return detail_response(
        503, "the warehouse is unavailable; nothing was acknowledged, retry later", {"Retry-After": "5"}
    )


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    InvalidRecords: _invalid,
    MalformedBody: _malformed,
    BadEncoding: _bad_body,
    UnsupportedEncoding: _unsupported,
    UnsupportedMediaType: _unsupported,
    UnpacksTooLarge: _too_large,
    BodyTooLarge: _too_large,
    ClientGone: _client_gone,
    UnreadableTable: _bad_body,
    ForeignOrganizer: _foreign,
    Overloaded: _overloaded,
    TooManyRecords: _too_many,
    DatabaseError: _warehouse_down,
}
