"""Websocket connections are logged with the access log, not apart from it.

uvicorn logs each websocket's handshake (`127.0.0.1:50862 - "WebSocket /?transport=websocket…" [accepted]`)
and the websockets library its "connection open" (and, in some versions, "closed") on `uvicorn.error`, the log of
faults and warnings, whatever `access_log` says. Socket.IO clients reconnect after every network blip, so those
lines buried the warnings (clients coming and going for 19 minutes: 7,908 of the API's 7,963 lines were these),
while requests were not logged at all. With `TICKETTOKEN_ACCESS_LOG=1` they are logged as before; /metrics counts
the handshakes either way (route `/socket.io`).
"""

from __future__ import annotations

import logging

_CONNECTION_MESSAGES = frozenset({"connection open", "connection closed", "connection rejected (%d %s)"})
_HANDSHAKE_PREFIX = '%s - "WebSocket %s"'


class _ConnectionLines(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or not isinstance(record.msg, str):
            return True
        return record.msg not in _CONNECTION_MESSAGES and not record.msg.startswith(_HANDSHAKE_PREFIX)


def log_socket_connections(*, access_log: bool) -> None:
    """Keep each websocket's connection lines out of the server's log unless requests are logged too (once per
    worker, as its app is made)."""
    if not access_log:
        logging.getLogger("uvicorn.error").addFilter(_ConnectionLines())
