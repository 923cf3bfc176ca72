"""What an HTTP request asks of the warehouse, read from its parameters and headers as ClickHouse does."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from warehouse.codecs import choose_response_encoding
from warehouse.errors import BAD_ARGUMENTS, READONLY, UNKNOWN_SETTING, WarehouseError
from warehouse.sql_text import is_setting_name
from warehouse.users import User

# Parameters that are part of the HTTP protocol, not engine settings.
_PROTOCOL_PARAMS = frozenset(
    {
        "query", "database", "default_format", "session_id", "session_timeout", "session_check", "query_id",
        "user", "password", "quota_key", "role", "stacktrace", "compress", "decompress",
    }
)  # fmt: skip
# HTTP-level settings this server handles itself (or that only shape real ClickHouse's HTTP output).
_HTTP_SETTINGS = frozenset(
    {
        "enable_http_compression", "send_progress_in_http_headers", "wait_end_of_query", "buffer_size",
        "cancel_http_readonly_queries_on_client_close", "add_http_cors_header", "max_query_size_http",
    }
)  # fmt: skip
DEFAULT_SESSION_TIMEOUT = 60.0
MAX_SESSION_TIMEOUT = 3600.0


@dataclass(frozen=True, slots=True)
class QueryRequest:
    method: str
    query_param: str | None
    database: str | None
    default_format: str
    session_id: str | None
    session_timeout: float
    session_check: bool
    query_id: str
    content_encoding: str
    response_encoding: str | None
    native_response: bool  # `compress=1`: the answer in ClickHouse's compressed blocks (native_blocks.py)
    native_body: bool  # `decompress=1`: the body in them
    settings: dict[str, str] = field(default_factory=dict)
    bindings: dict[str, str] = field(default_factory=dict)
    # The `readonly` setting of this request: 1 refuses writes and setting changes, 2 writes only. Kept off the
    # engine connection, which serves other requests after this one and could not be set back (readonly=1 forbids
    # changing settings, itself included).
    readonly: int = 0


def parse_params(query_string: bytes) -> dict[str, str]:
    """URL parameters; the last one of a repeated name wins, as in ClickHouse."""
    return dict(parse_qsl(query_string.decode("latin-1"), keep_blank_values=True))


def read_request(method: str, params: Mapping[str, str], headers: Mapping[str, str], user: User) -> QueryRequest:
    settings: dict[str, str] = {}
    bindings: dict[str, str] = {}
    for name, value in params.items():
        if name.startswith("param_"):
            bindings[name[6:]] = value
        elif name in _PROTOCOL_PARAMS or name in _HTTP_SETTINGS or name.startswith("http_"):
            continue
        elif not is_setting_name(name):
            raise WarehouseError(UNKNOWN_SETTING, f"Unknown setting '{name}'")
        else:
            settings[name] = value
    readonly = _readonly(settings.pop("readonly", "0"))
    if (user.readonly or readonly == 1) and settings:
        name = next(iter(settings))
        raise WarehouseError(READONLY, f"Cannot modify '{name}' setting in readonly mode")
    compress = params.get("enable_http_compression", "0") == "1"
    return QueryRequest(
        method=method,
        query_param=params.get("query"),
        database=params.get("database") or headers.get("x-clickhouse-database") or None,
        default_format=params.get("default_format") or headers.get("x-clickhouse-format") or "TabSeparated",
        session_id=params.get("session_id") or None,
        session_timeout=_session_timeout(params.get("session_timeout")),
        session_check=params.get("session_check", "0") == "1",
        query_id=params.get("query_id") or str(uuid.uuid4()),
        content_encoding=headers.get("content-encoding", ""),
        response_encoding=choose_response_encoding(headers.get("accept-encoding", "")) if compress else None,
        native_response=_flag(params, "compress"),
        native_body=_flag(params, "decompress"),
        settings=settings,
        bindings=bindings,
        readonly=readonly,
    )


def _flag(params: Mapping[str, str], name: str) -> bool:
    raw = params.get(name, "0")
    if raw not in ("0", "1", ""):
        raise WarehouseError(BAD_ARGUMENTS, f"Invalid value for '{name}': {raw!r} (0 or 1)")
    return raw == "1"


def _readonly(raw: str) -> int:
    if raw not in ("0", "1", "2"):
        raise WarehouseError(BAD_ARGUMENTS, f"Invalid value for setting 'readonly': {raw!r} (0, 1 or 2)")
    return int(raw)


def _session_timeout(raw: str | None) -> float:
    if raw is None or raw == "":
        return DEFAULT_SESSION_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        raise WarehouseError(BAD_ARGUMENTS, f"Invalid session timeout: {raw!r}") from None
    if not 0 < value <= MAX_SESSION_TIMEOUT:
        raise WarehouseError(BAD_ARGUMENTS, f"Session timeout must be in (0, {MAX_SESSION_TIMEOUT:g}] seconds")
    return value
