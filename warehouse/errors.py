"""ClickHouse error codes and how they travel over HTTP (`Code: N. DB::Exception: ...`)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

# The codes this server raises itself; the engine's own codes pass through unchanged.
UNKNOWN_SETTING = 115
READONLY = 164
UNKNOWN_FORMAT = 73
NOT_IMPLEMENTED = 48
QUERY_WAS_CANCELLED = 394
QUERY_WITH_SAME_ID_IS_ALREADY_RUNNING = 216
TOO_MANY_SIMULTANEOUS_QUERIES = 202  # also used for too many sessions
SESSION_NOT_FOUND = 372
SESSION_IS_LOCKED = 373
UNKNOWN_COMPRESSION_METHOD = 236
CANNOT_DECOMPRESS = 271
CHECKSUM_DOESNT_MATCH = 40
AUTHENTICATION_FAILED = 516
BAD_ARGUMENTS = 36
SYNTAX_ERROR = 62
INTO_OUTFILE_NOT_ALLOWED = 358
UNKNOWN_EXCEPTION = 1002

# Mirrors ClickHouse's exceptionCodeToHTTPStatus for the codes clients meet.
_HTTP_STATUS: dict[int, int] = {
    AUTHENTICATION_FAILED: 401,
    192: 401,  # UNKNOWN_USER
    193: 401,  # WRONG_PASSWORD
    194: 401,  # REQUIRED_PASSWORD
    READONLY: 403,
    497: 403,  # ACCESS_DENIED
    60: 404,  # UNKNOWN_TABLE
    81: 404,  # UNKNOWN_DATABASE
    46: 404,  # UNKNOWN_FUNCTION
    SESSION_NOT_FOUND: 404,
    SESSION_IS_LOCKED: 423,
    TOO_MANY_SIMULTANEOUS_QUERIES: 503,
    NOT_IMPLEMENTED: 501,
    159: 408,  # TIMEOUT_EXCEEDED: the query ran out of its own time, not a server fault
    241: 500,  # MEMORY_LIMIT_EXCEEDED
}
_BAD_REQUEST = {
    6,
    26,
    27,
    32,
    33,
    36,
    38,
    40,
    41,
    47,
    53,
    62,
    69,
    70,
    72,
    73,
    115,
    117,
    131,
    149,
    156,
    158,
    183,
    236,
    271,
    352,
    386,
    393,
    456,
    457,
    458,
}


def http_status_for(code: int) -> int:
    """The HTTP status ClickHouse answers with for an exception code."""
    if code in _HTTP_STATUS:
        return _HTTP_STATUS[code]
    if code in _BAD_REQUEST:
        return 400
    return 500


class WarehouseError(Exception):
    """An error with a ClickHouse code, sent to clients as `Code: N. DB::Exception: message`."""

    def __init__(self, code: int, message: str, *, http_status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status if http_status is not None else http_status_for(code)

    def body(self) -> str:
        if self.message.startswith("Code: "):
            return self.message.rstrip("\n") + "\n"
        return f"Code: {self.code}. DB::Exception: {self.message}\n"

    def refusing(self, user: str) -> WarehouseError:
        """This error as told to `user`. The engine runs every statement as its own `default` user, so a refusal
        of its names that user ("default: Cannot execute query in readonly mode"); ClickHouse names the client's."""
        engine_user = "DB::Exception: default: "
        if user == "default" or engine_user not in self.message:
            return self
        told = self.message.replace(engine_user, f"DB::Exception: {user}: ", 1)
        return WarehouseError(self.code, told, http_status=self.http_status)

    @classmethod
    def from_engine(cls, error: BaseException) -> WarehouseError:
        """Wrap a chDB exception, keeping the engine's own code and text."""
        text = _MARKER.sub("", str(error))
        start = text.find("Code: ")
        if start >= 0:
            text = text[start:]
            digits = text[6:].split(".", 1)[0]
            if digits.isdigit():
                return cls(int(digits), text)
        return cls(UNKNOWN_EXCEPTION, text or type(error).__name__)


# The comment the server puts before every statement (tracker.TrackedQuery.prefix), to find and kill it: the
# engine's errors echo the statement with it, and the client, who never wrote it, should see its own text.
_MARKER = re.compile(r"/\* tt:[0-9a-f]{32} \*/ ")


@contextmanager
def engine_errors() -> Iterator[None]:
    """Turn chDB's RuntimeErrors (ChdbError is one) into WarehouseErrors with the engine's code and text."""
    try:
        yield
    except RuntimeError as error:
        raise WarehouseError.from_engine(error) from None
