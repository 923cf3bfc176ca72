"""Which failures the API's log shows: those nobody answered on purpose.

Litestar logs every exception a request raises, refusals included (with `log_exceptions="always"`, which
production needs to see its 500s). A refusal is an answer, not a fault: a client sending bad batches would
fill the log with tracebacks (thousands a minute) and hide the one that matters.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

from litestar.exceptions import HTTPException
from litestar.types import Scope
from litestar.types.callable_types import ExceptionLoggingHandler
from litestar.types.protocols import Logger


def unexpected_exceptions_logger(answered: Iterable[type[BaseException]]) -> ExceptionLoggingHandler:
    """A Litestar exception logging handler that logs, with its traceback, every exception but a 4xx
    HTTPException and those of the `answered` types (their handlers answer, and log what deserves it)."""
    quiet = tuple(answered)

    def log_unexpected(logger: Logger, scope: Scope, _: list[str]) -> None:
        error = sys.exc_info()[1]  # called from the middleware's except block
        if isinstance(error, quiet) or (isinstance(error, HTTPException) and error.status_code < 500):
            return
        logger.exception("Uncaught exception (connection_type=%s, path=%r):", scope["type"], scope["path"])

    return log_unexpected
