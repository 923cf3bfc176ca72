"""What a request asks for, and who sends it."""

from __future__ import annotations

from base64 import b64encode

import pytest

from warehouse.errors import AUTHENTICATION_FAILED, READONLY, UNKNOWN_SETTING, WarehouseError
from warehouse.request import parse_params, read_request
from warehouse.users import User, Users

WRITER = User("default", "pw", readonly=False)
ANALYST = User("analyst", "apw", readonly=True)
USERS = Users([WRITER, ANALYST])


def test_parameters_split_into_protocol_settings_and_bindings() -> None:
    params = parse_params(
        b"query=SELECT+1&database=db&default_format=JSON&session_id=s&session_timeout=30&param_x=42"
        b"&max_threads=2&wait_end_of_query=1&http_headers_progress_interval_ms=10&enable_http_compression=1"
    )
    req = read_request("POST", params, {"accept-encoding": "gzip"}, WRITER)
    assert req.query_param == "SELECT 1"
    assert req.database == "db"
    assert req.default_format == "JSON"
    assert (req.session_id, req.session_timeout) == ("s", 30.0)
    assert req.bindings == {"x": "42"}
    assert req.settings == {"max_threads": "2"}
    assert req.response_encoding == "gzip"


@pytest.mark.parametrize(
    ("query", "user", "code"),
    [
        (b"max_threads=2", ANALYST, READONLY),
        (b"bad-name=1", WRITER, UNKNOWN_SETTING),
        (b"decompress=yes", WRITER, 36),
        (b"compress=2", WRITER, 36),
        (b"session_timeout=-1", WRITER, 36),
        (b"session_timeout=soon", WRITER, 36),
    ],
)
def test_refused_parameters(query: bytes, user: User, code: int) -> None:
    with pytest.raises(WarehouseError) as raised:
        read_request("POST", parse_params(query), {}, user)
    assert raised.value.code == code


def _basic(user: str, password: str) -> dict[str, str]:
    return {"authorization": "Basic " + b64encode(f"{user}:{password}".encode()).decode()}


def test_no_credentials_mean_the_default_user() -> None:
    """As on a ClickHouse server: clients that send none (clickhouse-connect without a username) are `default`."""
    open_default = User("default", "", readonly=False)
    assert Users([open_default, ANALYST]).authenticate({}, {}) is open_default
    with pytest.raises(WarehouseError) as raised:
        USERS.authenticate({}, {})  # `default` has a password here
    assert str(raised.value).startswith("default: Authentication failed")
    with pytest.raises(WarehouseError):
        Users([User("tickettoken", "", readonly=False), ANALYST]).authenticate({}, {})  # no user `default`


def test_credentials_by_basic_auth_headers_or_parameters() -> None:
    assert USERS.authenticate(_basic("analyst", "apw"), {}) is ANALYST
    assert USERS.authenticate({"x-clickhouse-user": "default", "x-clickhouse-key": "pw"}, {}) is WRITER
    assert USERS.authenticate({}, {"user": "default", "password": "pw"}) is WRITER


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"authorization": "Basic !!!"},
        {"authorization": "Basic ZGVmYXVsdDpydy\xdc1zZWNyZXQ="},  # not ASCII (headers arrive as Latin-1): was a 500
        {"authorization": "Basic " + b64encode(b"default:\xff").decode()},  # not UTF-8 once decoded
        {"x-clickhouse-user": "d\xe9fault", "x-clickhouse-key": "\xff"},
        _basic("default", "nope"),
        _basic("nobody", "pw"),
    ],
)
def test_wrong_or_missing_credentials(headers: dict[str, str]) -> None:
    with pytest.raises(WarehouseError) as raised:
        USERS.authenticate(headers, {})
    assert raised.value.code == AUTHENTICATION_FAILED
    assert raised.value.http_status == 401
