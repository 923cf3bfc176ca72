"""Access guards. API keys with scopes arrive with the ingest work; until then only /metrics is guarded."""

from __future__ import annotations

import hmac

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler

from tickettoken.settings import get_settings


def require_metrics_token(connection: ASGIConnection, _handler: BaseRouteHandler) -> None:  # type: ignore[type-arg]
    """Allow the request only with `Authorization: Bearer <TICKETTOKEN_METRICS_TOKEN>`."""
    expected = get_settings().api.metrics_token
    given = connection.headers.get("authorization", "")
    scheme, _, presented = given.partition(" ")
    if not expected or scheme.lower() != "bearer" or not hmac.compare_digest(presented.encode(), expected.encode()):
        raise NotAuthorizedException("metrics need Authorization: Bearer <TICKETTOKEN_METRICS_TOKEN>")
