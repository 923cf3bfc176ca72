"""The API's log keeps tracebacks for faults, not for refusals the app answers on purpose."""

from __future__ import annotations

import logging

import pytest
from litestar.exceptions import HTTPException, NotAuthorizedException, ValidationException

from api.system.exception_log import unexpected_exceptions_logger


class Refused(Exception):
    """Stands for an exception the app's handlers answer (InvalidRecords, UnknownEvent, ...)."""


class RefusedToo(Refused):
    pass


SCOPE = {"type": "http", "path": "/api/ingest/sale"}


def _logged(error: BaseException, caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    log = unexpected_exceptions_logger([Refused])
    logger = logging.getLogger("test.exception_log")
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="test.exception_log"):
        try:
            raise error
        except BaseException:  # noqa: BLE001 - the handler runs inside Litestar's except block, as here
            log(logger, SCOPE, [])  # type: ignore[arg-type]
    return [record for record in caplog.records if record.name == "test.exception_log"]


@pytest.mark.parametrize(
    "error",
    [ValidationException("bad"), NotAuthorizedException(), Refused("answered"), RefusedToo("a kind of it")],
    ids=["400", "401", "answered", "answered subclass"],
)
def test_refusals_are_not_logged(error: BaseException, caplog: pytest.LogCaptureFixture) -> None:
    assert _logged(error, caplog) == []


@pytest.mark.parametrize(
    "error", [ZeroDivisionError("a bug"), HTTPException(status_code=500)], ids=["unhandled", "500"]
)
def test_faults_are_logged_with_their_traceback(error: BaseException, caplog: pytest.LogCaptureFixture) -> None:
    records = _logged(error, caplog)
    assert len(records) == 1
    assert records[0].levelno == logging.ERROR
    assert records[0].exc_info is not None and records[0].exc_info[1] is error
    assert "/api/ingest/sale" in records[0].getMessage()
