"""Request bodies (a JSON object, a JSON array, or NDJSON) into typed records and per-record errors.

The whole body is decoded in one call when it is valid (the usual case, at msgspec's speed); only when
that fails is each record decoded on its own, to name every bad record and field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any, Generic, TypeVar

import msgspec

from api.ingest.schemas import Record, RecordError

R = TypeVar("R", bound=Record)
MAX_LISTED_ERRORS = 100


class MalformedBody(Exception):
    """The body is not JSON / NDJSON at all: a 400 naming the byte where it broke."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} (byte {position})")
        self.position = position


@dataclass
class Decoded(Generic[R]):
    """Records by their index in the request, the raw text of each, and what was wrong with the others."""

    records: list[tuple[int, R]]
    raw: list[bytes]
    errors: list[RecordError] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.raw)


@cache
def _decoder(record_type: type[Any], many: bool) -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(list[record_type] if many else record_type)  # type: ignore[valid-type]


_RAW_LIST = msgspec.json.Decoder(list[msgspec.Raw])


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


def _syntax_error(error: msgspec.DecodeError, body_length: int, offset: int = 0) -> MalformedBody:
    text = str(error)
    marker = "(byte "
    if marker in text:
        position = int(text.rsplit(marker, 1)[1].rstrip(")"))
        return MalformedBody(text.rsplit(" " + marker, 1)[0], offset + position)
    return MalformedBody(text, offset + body_length)  # "truncated": it broke at the end


def decode_json(body: bytes, record_type: type[R]) -> Decoded[R]:
    """A JSON object (one record) or array (many)."""
    start = body.lstrip()[:1]
    if start not in (b"{", b"["):
        raise MalformedBody("expected a JSON object or array", len(body) - len(body.lstrip()))
    many = start == b"["
    try:
        decoded = _decoder(record_type, many).decode(body)
    except msgspec.ValidationError:
        pass  # valid JSON, invalid records: find each one below
    except msgspec.DecodeError as error:
        raise _syntax_error(error, len(body)) from None
    else:
        records = decoded if many else [decoded]
        raw = msgspec.json.decode(body, type=list[msgspec.Raw]) if many else [msgspec.Raw(body)]
        return Decoded(list(enumerate(records)), [bytes(r) for r in raw])
    raws = _RAW_LIST.decode(body) if many else [msgspec.Raw(body)]
    return _one_by_one([bytes(r) for r in raws], record_type)


def decode_ndjson(body: bytes, record_type: type[R]) -> Decoded[R]:
    """One JSON object per line; blank lines are skipped."""
    lines: list[bytes] = []
    offsets: list[int] = []
    offset = 0
    for line in body.split(b"\n"):
        if line.strip():
            lines.append(line)
            offsets.append(offset)
        offset += len(line) + 1
    return _one_by_one(lines, record_type, offsets)


def _one_by_one(raws: list[bytes], record_type: type[R], offsets: list[int] | None = None) -> Decoded[R]:
    decoder = _decoder(record_type, False)
    result: Decoded[R] = Decoded(records=[], raw=raws)
    for index, raw in enumerate(raws):
        try:
            result.records.append((index, decoder.decode(raw)))
        except msgspec.ValidationError as error:
            result.errors.append(error_of(index, error))
        except msgspec.DecodeError as error:  # only NDJSON lines get here: arrays were parsed already
            raise _syntax_error(error, len(raw), offsets[index] if offsets else 0) from None
    return result
