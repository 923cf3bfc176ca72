"""Joining chDB's per-block documents into one valid output."""

from __future__ import annotations

import io

import pyarrow as pa

from warehouse.framing import ChunkFramer, is_streamable


def test_header_formats_keep_only_the_first_header() -> None:
    framer = ChunkFramer("TSVWithNamesAndTypes")
    chunks = [b"a\tb\nUInt8\tString\n1\tx\n", b"a\tb\nUInt8\tString\n2\ty\n"]
    joined = b"".join(framer.frame(chunk) for chunk in chunks) + framer.finish()
    assert joined == b"a\tb\nUInt8\tString\n1\tx\n2\ty\n"


def test_arrow_stream_chunks_become_one_stream() -> None:
    def document(values: list[int]) -> bytes:
        sink = io.BytesIO()
        table = pa.table({"v": pa.array(values, pa.int64())})
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        return sink.getvalue()

    framer = ChunkFramer("ArrowStream")
    data = framer.frame(document([1, 2])) + framer.frame(document([3])) + framer.finish()
    assert pa.ipc.open_stream(data).read_all().column("v").to_pylist() == [1, 2, 3]


def test_which_formats_stream() -> None:
    assert is_streamable("Native")
    assert is_streamable("CSVWithNames")
    assert is_streamable("ArrowStream")
    assert not is_streamable("JSON")
    assert not is_streamable("Parquet")
