"""`tickettoken sql`'s copy of a streamed result: the rows out, an error that ends them kept apart."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from urllib3.exceptions import ProtocolError

from warehouse.analyst import HELD_BYTES, StatementFailed, copy_result


def _broken(pieces: list[bytes]) -> Iterator[bytes]:
    yield from pieces
    raise ProtocolError("Response ended prematurely")


def test_a_whole_result_is_copied_as_it_came() -> None:
    rows = [b"%d\n" % n for n in range(100_000)]
    out = io.BytesIO()
    copy_result(iter(rows), out)
    assert out.getvalue() == b"".join(rows)
    assert len(out.getvalue()) > 3 * HELD_BYTES


def test_the_error_that_ends_a_stream_is_raised_not_printed() -> None:
    rows = [b"%d\n" % n for n in range(50_000)]
    out = io.BytesIO()
    with pytest.raises(StatementFailed) as raised:
        copy_result(_broken([*rows, b"\nCode: 395. DB::Exception: boom. (FUNCTION_THROW_IF_VALUE_IS_NON_ZERO)\n"]), out)
    assert str(raised.value) == "Code: 395. DB::Exception: boom. (FUNCTION_THROW_IF_VALUE_IS_NON_ZERO)"
    assert out.getvalue() == b"".join(rows)


def test_a_stream_broken_without_an_error_says_so() -> None:
    out = io.BytesIO()
    with pytest.raises(StatementFailed, match=r"^the answer broke off before its end \(Response ended prematurely\)"):
        copy_result(_broken([b"1\n", b"2\n"]), out)
    assert out.getvalue() == b"1\n2\n"
