"""Joining the chunks of a streamed chDB result into one valid output of its format.

chDB's streaming query hands back each block as a complete document of the format (its own header, its own
footer). Concatenation is valid as it is for row formats with neither; formats with a names/types header
keep the first chunk's header only; ArrowStream is re-framed as one stream. Every other format (JSON,
Parquet, Pretty, ...) is not streamed: the result is produced whole.
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


def is_streamable(fmt: str) -> bool:
    key = fmt.lower()
    return key in _PLAIN or key in _HEADER_LINES or key == "arrowstream"


class ChunkFramer:
    """Turns each chunk into the bytes to send so that the whole is one document."""

    def __init__(self, fmt: str) -> None:
        self._key = fmt.lower()
        self._header: bytes | None = None
        self._buffer = io.BytesIO()
        self._writer: pa.ipc.RecordBatchStreamWriter | None = None

    def frame(self, chunk: bytes) -> bytes:
        if self._key in _HEADER_LINES:
            return self._strip_header(chunk, _HEADER_LINES[self._key])
        if self._key == "arrowstream":
            return self._reframe_arrow(chunk)
        return chunk

    def finish(self) -> bytes:
        """Bytes that close the document (the ArrowStream end-of-stream marker)."""
        if self._writer is None:
            return b""
        self._writer.close()
        return self._take()

    def _strip_header(self, chunk: bytes, lines: int) -> bytes:
        if self._header is None:
            end = -1
            for _ in range(lines):
                end = chunk.find(b"\n", end + 1)
                if end < 0:
                    return chunk
            self._header = chunk[: end + 1]
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
