"""An Arrow stream's (or file's) batch sizes, read from their metadata, agree with what pyarrow unpacks; damaged
ones are errors pyarrow's own reader would raise, never anything else."""

from __future__ import annotations

import io
import random
from typing import Any

import pyarrow as pa
import pytest

from api.ingest.arrow_messages import batch_sizes, is_arrow_file

TABLE = pa.table({
    "text": pa.array(["a" * 1000, None, "b" * 10] * 20),
    "tier": pa.array(["GA", "VIP"] * 30).dictionary_encode(),
    "quantity": pa.array(range(60), pa.int16()),
    "buyer": pa.array([{"country": "DE", "age": 30}] * 60),
    "views": pa.array(["x" * 40] * 60, pa.string_view()),
})  # fmt: skip


def _stream(compression: str | None, batches: int = 3, *, new: Any = pa.ipc.new_stream) -> bytes:
    sink = io.BytesIO()
    with new(sink, TABLE.schema, options=pa.ipc.IpcWriteOptions(compression=compression)) as writer:
        for _ in range(batches):
            writer.write_table(TABLE)
    return sink.getvalue()


def _file(compression: str | None, batches: int = 3) -> bytes:
    return _stream(compression, batches, new=pa.ipc.new_file)


@pytest.mark.parametrize("compression", [None, "lz4", "zstd"])
def test_sizes_are_what_the_batches_unpack_to(compression: str | None) -> None:
    plain = [m.body.size for m in pa.ipc.MessageReader.open_stream(_stream(None)) if m.type != "schema"]
    sizes = list(batch_sizes(_stream(compression)))
    assert [size.rows for size in sizes] == [0, 60, 60, 60]  # the dictionary, then the batches
    # Unpacked buffers are the plain ones without the padding to 8 bytes each (at most 7 bytes x 20 buffers).
    for size, expected in zip(sizes, plain, strict=True):
        assert expected - 7 * 20 <= size.unpacked_bytes <= expected
    assert sum(size.unpacked_bytes for size in sizes) > 3 * 20_000 > 4 * len(_stream("zstd"))


@pytest.mark.parametrize("compression", [None, "zstd"])
def test_a_files_batches_are_found_from_its_footer(compression: str | None) -> None:
    in_file = list(batch_sizes(_file(compression)))
    assert is_arrow_file(_file(compression)) and not is_arrow_file(_stream(compression))
    assert in_file == list(batch_sizes(_stream(compression)))


@pytest.mark.parametrize("write", [_stream, _file])
def test_damaged_bodies_raise_only_arrows_errors(write: Any) -> None:
    body, rng, outcomes = write("zstd", batches=2), random.Random(7), set()  # noqa: S311 - damage, not secrets
    for _ in range(3000):
        damaged = bytearray(body)
        for _ in range(rng.randint(1, 4)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        cut = bytes(damaged[: rng.randrange(len(damaged))] if rng.random() < 0.2 else damaged)
        try:
            list(batch_sizes(cut))
            outcomes.add("read")
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as error:
            outcomes.add(type(error).__name__)
    assert "read" in outcomes and len(outcomes) > 1
