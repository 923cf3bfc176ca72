"""Joining the chunks of a streamed chDB result into one valid output of its format.

chDB's streaming query hands back each block as a complete document of the format (its own header, its own
footer). Concatenation is valid as it is for row formats with neither; formats with a names/types header
keep the first chunk's header only (text lines, or RowBinary's binary one, which the Java client and its JDBC
driver ask for); ArrowStream is re-framed as one stream. Every other format (JSON, Parquet, Pretty, ...) is not
streamed: the result is produced whole.
"""

from __future__ import annotations

import io

import pyarrow as pa

_PLAIN = {
    "tabseparated", "tsv", "tabseparatedraw", "tsvraw", "csv", "jsoneachrow", "jsonlines", "ndjson",
    "jsoncompacteachrow", "jsonstringseachrow", "jsoncompactstringseachrow", "rowbinary", "native", "values",
    "lineasstring", "tskv", "jsonobjecteachrow", "rawblob",
}  # fmt: skip
# Header lines each chunk starts with.
_HEADER_LINES = {
    "tabseparatedwithnames": 1, "tsvwithnames": 1, "tabseparatedrawwithnames": 1, "tsvrawwithnames": 1,
    "tabseparatedwithnamesandtypes": 2, "tsvwithnamesandtypes": 2, "tabseparatedrawwithnamesandtypes": 2,
    "tsvrawwithnamesandtypes": 2, "csvwithnames": 1, "csvwithnamesandtypes": 2,
    "jsoncompacteachrowwithnames": 1, "jsoncompacteachrowwithnamesandtypes": 2,
}  # fmt: skip


# RowBinary with a header: a varint count, then that many names (and as many types), each a varint length and
# its bytes. The value: whether types follow the names.
_BINARY_HEADERS = {"rowbinarywithnames": False, "rowbinarywithnamesandtypes": True}


def is_streamable(fmt: str) -> bool:
    key = fmt.lower()
    return key in _PLAIN or key in _HEADER_LINES or key in _BINARY_HEADERS or key == "arrowstream"


class ChunkFramer:
    """Turns each chunk into the bytes to send so that the whole is one document."""

    def __init__(self, fmt: str) -> None:
        self._key = fmt.lower()
        self._header: bytes | None = None
        self._buffer = io.BytesIO()
        self._writer: pa.ipc.RecordBatchStreamWriter | None = None

    def frame(self, chunk: bytes) -> bytes:
        if self._key in _HEADER_LINES or self._key in _BINARY_HEADERS:
            return self._strip_header(chunk)
        if self._key == "arrowstream":
            return self._reframe_arrow(chunk)
        return chunk

    def finish(self) -> bytes:
        """Bytes that close the document (the ArrowStream end-of-stream marker)."""
        if self._writer is None:
            return b""
        self._writer.close()
        return self._take()

    def _strip_header(self, chunk: bytes) -> bytes:
        """The first chunk whole, its header remembered; the header off every later chunk."""
        if self._header is None:
            if self._key in _HEADER_LINES:
                end = _text_header_end(chunk, _HEADER_LINES[self._key])
            else:
                end = _binary_header_end(chunk, with_types=_BINARY_HEADERS[self._key])
            if end is not None:
                self._header = chunk[:end]
            return chunk
        if chunk.startswith(self._header):
            return chunk[len(self._header) :]
        return chunk

    def _reframe_arrow(self, chunk: bytes) -> bytes:
        reader = pa.ipc.open_stream(chunk)
        if self._writer is None:
            self._writer = pa.ipc.new_stream(pa.PythonFile(self._buffer, mode="w"), reader.schema)
        for batch in reader:
            self._writer.write_batch(batch)
        return self._take()

    def _take(self) -> bytes:
        data = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return data


def _text_header_end(chunk: bytes, lines: int) -> int | None:
    """Where a header of `lines` text lines ends in `chunk`; None if the chunk holds no whole header."""
    end = -1
    for _ in range(lines):
        end = chunk.find(b"\n", end + 1)
        if end < 0:
            return None
    return end + 1


def _binary_header_end(chunk: bytes, *, with_types: bool) -> int | None:
    """Where RowBinaryWithNames[AndTypes]'s header ends in `chunk`; None if the chunk holds no whole header."""
    count, at = _varint(chunk, 0)
    for _ in range(count * (2 if with_types else 1)):
        if at > len(chunk):
            return None
        size, at = _varint(chunk, at)
        at += size
    return at if at <= len(chunk) else None


def _varint(data: bytes, at: int) -> tuple[int, int]:
    """An unsigned LEB128 number at `at`, and where it ends (past the data when it is cut short)."""
    value, shift = 0, 0
    while at < len(data):
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7
    return value, len(data) + 1
