"""Request bodies (a JSON object, a JSON array, or NDJSON) into typed records and per-record errors.

The whole body is decoded in one call when it is valid (the usual case, at msgspec's speed); only when
that fails is each record decoded on its own, to name every bad record and field.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Generic, TypeVar

import msgspec
import pyarrow as pa
import pyarrow.compute as pc

from api.ingest.schemas import Record, RecordError

R = TypeVar("R", bound=Record)
MAX_LISTED_ERRORS = 100


class MalformedBody(Exception):
    """The body is not JSON / NDJSON at all: a 400 naming the byte where it broke."""

    def __init__(self, message: str, position: int, hint: str = "") -> None:
        super().__init__(f"{message} (byte {position}){hint}")
        self.position = position


# A UTF-8 byte order mark, which Windows tools (PowerShell, .NET) write before JSON: RFC 8259 lets a parser
# ignore it, and refusing it as "not an object or array at byte 0" left its senders guessing.
_BOM = b"\xef\xbb\xbf"
_NDJSON_HINT = "; for one record per line (NDJSON) send Content-Type: application/x-ndjson"


def _without_bom(body: bytes) -> tuple[bytes, int]:
    """The body without a leading byte order mark, and how many bytes that took off."""
    return (body[len(_BOM) :], len(_BOM)) if body.startswith(_BOM) else (body, 0)


@dataclass
class Decoded(Generic[R]):
    """Records by their index in the request, what was wrong with the others, and each one's raw form
    (its JSON text, for the quarantine)."""

    records: list[tuple[int, R]]
    total: int
    raw_of: Callable[[int], bytes]
    errors: list[RecordError] = field(default_factory=list)


def _raw_list(raws: list[bytes]) -> Callable[[int], bytes]:
    return raws.__getitem__


@cache
def _decoder(record_type: type[Any], many: bool) -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(list[record_type] if many else record_type)  # type: ignore[valid-type]


_RAW_LIST = msgspec.json.Decoder(list[msgspec.Raw])
_RAW = msgspec.json.Decoder(msgspec.Raw)


def error_of(index: int, error: msgspec.ValidationError) -> RecordError:
    """`Expected int >= 1 - at $.quantity` -> field `quantity`, message `Expected int >= 1`."""
    text = str(error)
    message, found, path = text.rpartition(" - at `$")
    if not found:
        message, path = text, ""
    field_path = path.rstrip("`").lstrip(".")
    missing = "Object missing required field `"
    if message.startswith(missing):  # msgspec names the object; the field is the one missing in it
        name = message[len(missing) :].rstrip("`")
        field_path = f"{field_path}.{name}" if field_path else name
    return RecordError(index=index, field=field_path, message=message)


def _syntax_error(
    error: msgspec.DecodeError, body_length: int, offset: int = 0, *, json_body: bool = False
) -> MalformedBody:
    text = str(error)
    marker = "(byte "
    if marker in text:
        position = int(text.rsplit(marker, 1)[1].rstrip(")"))
        message = text.rsplit(" " + marker, 1)[0]
        # A JSON body whose first value is followed by more: most often NDJSON sent without its type (curl's -d
        # sends none of the JSON types).
        hint = _NDJSON_HINT if json_body and message.endswith("trailing characters") else ""
        return MalformedBody(message, offset + position, hint)
    return MalformedBody(text, offset + body_length)  # "truncated": it broke at the end


def _too_deep(offset: int) -> MalformedBody:
    # msgspec refuses nesting deeper than the interpreter's recursion limit; no record of the contract nests
    # more than three levels, so such a body is not a batch of records.
    return MalformedBody("JSON nested too deeply for a record", offset)


def _not_utf8(body: bytes) -> MalformedBody:
    """msgspec raises UnicodeDecodeError (not a DecodeError) for a string that is not UTF-8, as a body sent in
    Latin-1 has: it was a 500. Its position is the first byte that is not, in the body as sent."""
    try:
        body.decode()
    except UnicodeDecodeError as error:
        return MalformedBody("a string is not UTF-8 (JSON is UTF-8)", error.start)
    return MalformedBody("a string is not UTF-8 (JSON is UTF-8)", 0)


def decode_json(body: bytes, record_type: type[R]) -> Decoded[R]:
    """A JSON object (one record) or array (many)."""
    try:
        return _decode_json(body, record_type)
    except UnicodeDecodeError:
        raise _not_utf8(body) from None


def decode_ndjson(body: bytes, record_type: type[R]) -> Decoded[R]:
    """One JSON object per line; blank lines are skipped."""
    try:
        return _decode_ndjson(body, record_type)
    except UnicodeDecodeError:
        raise _not_utf8(body) from None


def _decode_json(body: bytes, record_type: type[R]) -> Decoded[R]:
    body, skipped = _without_bom(body)
    start = body.lstrip()[:1]
    if not start:
        raise MalformedBody("the body is empty: send a JSON object or array", skipped + len(body))
    if start not in (b"{", b"["):
        raise MalformedBody("expected a JSON object or array", skipped + len(body) - len(body.lstrip()))
    many = start == b"["
    try:
        decoded = _decoder(record_type, many).decode(body)
    except msgspec.ValidationError:
        pass  # valid JSON, invalid records: find each one below
    except msgspec.DecodeError as error:
        raise _syntax_error(error, len(body), skipped, json_body=True) from None
    except RecursionError:
        raise _too_deep(skipped) from None
    else:
        records = decoded if many else [decoded]
        return Decoded(list(enumerate(records)), len(records), _lazy_raws(body, many))
    try:  # the typed decoder may stop at a bad record before reaching a syntax error further on
        # (one object followed by more, NDJSON sent as JSON, too: the rest was dropped unseen when the first failed)
        raws = _RAW_LIST.decode(body) if many else [_RAW.decode(body)]
    except msgspec.DecodeError as error:
        raise _syntax_error(error, len(body), skipped, json_body=True) from None
    except RecursionError:
        raise _too_deep(skipped) from None
    return _one_by_one([bytes(r) for r in raws], record_type)


def _decode_ndjson(body: bytes, record_type: type[R]) -> Decoded[R]:
    body, offset = _without_bom(body)
    lines: list[bytes] = []
    offsets: list[int] = []
    for line in body.split(b"\n"):
        if line.strip():
            lines.append(line)
            offsets.append(offset)
        offset += len(line) + 1
    return _one_by_one(lines, record_type, offsets)


def _lazy_raws(body: bytes, many: bool) -> Callable[[int], bytes]:
    """Each record's text, split out of the body only if someone asks (the quarantine, rarely)."""
    raws: list[bytes] = []

    def raw_of(index: int) -> bytes:
        if not many:
            return body
        if not raws:
            raws.extend(bytes(raw) for raw in _RAW_LIST.decode(body))
        return raws[index]

    return raw_of


def _one_by_one(raws: list[bytes], record_type: type[R], offsets: list[int] | None = None) -> Decoded[R]:
    decoder = _decoder(record_type, False)
    result: Decoded[R] = Decoded(records=[], total=len(raws), raw_of=_raw_list(raws))
    for index, raw in enumerate(raws):
        try:
            result.records.append((index, decoder.decode(raw)))
        except msgspec.ValidationError as error:
            try:  # a line of two values whose first is invalid: the line's syntax error, not the first's fields
                _RAW.decode(raw)
            except msgspec.DecodeError as syntax:
                raise _syntax_error(syntax, len(raw), offsets[index] if offsets else 0) from None
            result.errors.append(error_of(index, error))
        except msgspec.DecodeError as error:  # only NDJSON lines get here: arrays were parsed already
            raise _syntax_error(error, len(raw), offsets[index] if offsets else 0) from None
        except RecursionError:
            raise _too_deep(offsets[index] if offsets else 0) from None
    return result


def decode_table(table: pa.Table, record_type: type[R]) -> Decoded[R]:
    """Rows of an Arrow table, checked against the same contract as JSON (same column names)."""
    rows: list[dict[str, Any]] = _in_microseconds(table).to_pylist()
    converted: list[R]
    try:
        converted = msgspec.convert(rows, list[record_type])  # type: ignore[valid-type]
    except msgspec.ValidationError:
        result: Decoded[R] = Decoded(records=[], total=len(rows), raw_of=lambda index: _row_json(rows[index]))
        for index, row in enumerate(rows):
            try:
                result.records.append((index, msgspec.convert(row, record_type)))
            except msgspec.ValidationError as error:
                result.errors.append(error_of(index, error))
        return result
    return Decoded(list(enumerate(converted)), len(rows), lambda index: _row_json(rows[index]))


def _in_microseconds(table: pa.Table) -> pa.Table:
    """Nanosecond times (pandas' unit) as microseconds, Python's: Arrow gives the former as pandas Timestamps,
    which msgspec does not take for a datetime, so every row was refused. The warehouse keeps milliseconds."""
    for index, column in enumerate(table.schema):
        if pa.types.is_timestamp(column.type) and column.type.unit == "ns":
            micros = pc.cast(table.column(index), pa.timestamp("us", column.type.tz), safe=False)
            table = table.set_column(index, column.name, micros)
    return table


def _row_json(row: dict[str, Any]) -> bytes:
    """A row of a columnar body as JSON, for the quarantine: whatever its columns' types."""
    return msgspec.json.encode(row, enc_hook=_as_text)


def _as_text(value: Any) -> Any:
    # pyarrow gives pandas objects for nanosecond columns when pandas is there (a duration: Timedelta), which
    # msgspec does not encode; any such value is kept as its ISO text, or failing that its text.
    isoformat = getattr(value, "isoformat", None)
    return isoformat() if callable(isoformat) else str(value)
