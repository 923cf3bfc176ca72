"""What an Arrow IPC stream's (or file's) batches hold, read from their metadata before any of them is unpacked.

A batch's buffers may be compressed (LZ4 or ZSTD), and pyarrow unpacks a batch whole as it reads it: a body of 8 KB
held 200 MB of text that way, and 32 MiB of such batches would ask for hundreds of GB, far past what checking the
table after reading could save. Each compressed buffer starts with its unpacked length, and the message's
metadata (a FlatBuffer: Message.fbs, the Arrow format's own schema) says where each buffer starts; pyarrow does not
expose those, so the few fields needed are read here by hand. An Arrow IPC file (what polars' `write_ipc` and
pandas' `to_feather` write) lists where its batches are in its footer, also a FlatBuffer (File.fbs).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa

_DICTIONARY_BATCH = 2  # Message.header's union type (3: a record batch)
FILE_MAGIC = b"ARROW1"  # an IPC file starts and ends with it; a stream starts with a message
_BLOCK = "<qi4xq"  # File.fbs' Block: the message's offset, its metadata's length (padded), its body's length
_NOT_COMPRESSED = -1  # a compressed body's buffer left as it was (too small to gain)


@dataclass(frozen=True, slots=True)
class BatchSize:
    rows: int  # 0 for a dictionary's batch: its values are not rows of the table
    unpacked_bytes: int


def is_arrow_file(body: bytes) -> bool:
    return body[: len(FILE_MAGIC)] == FILE_MAGIC


def batch_sizes(body: bytes) -> Iterator[BatchSize]:
    """Each record or dictionary batch of the stream or file, as its metadata and buffer prefixes say.
    Raises pa.ArrowInvalid (or OSError) for a message it cannot read, as pyarrow's reader would."""
    messages = _file_messages(body) if is_arrow_file(body) else pa.ipc.MessageReader.open_stream(body)
    for message in messages:
        if message.type not in ("record batch", "dictionary"):
            continue
        meta = _Table.root(message.metadata.to_pybytes())
        header = meta.table(2)
        if header is None:
            raise pa.ArrowInvalid(f"a {message.type} message without its header")
        if meta.ubyte(1) == _DICTIONARY_BATCH:
            data = header.table(1)
            if data is None:
                raise pa.ArrowInvalid("a dictionary message without its batch")
            yield BatchSize(0, _unpacked(data, message.body))
        else:
            rows = header.long(0)
            if rows < 0:
                raise pa.ArrowInvalid("a batch of fewer than no rows")
            yield BatchSize(rows, _unpacked(header, message.body))


def _file_messages(body: bytes) -> Iterator[pa.ipc.Message]:
    """A file's dictionary and record batch messages, where its footer says they are: after the footer, its length
    (4 bytes) and the magic again."""
    end = len(body) - len(FILE_MAGIC) - 4
    if end < 8 or body[end + 4 :] != FILE_MAGIC:
        raise pa.ArrowInvalid("an Arrow IPC file without its footer (cut short?)")
    (size,) = struct.unpack_from("<i", body, end)
    if not 0 < size <= end - 8:
        raise pa.ArrowInvalid("an Arrow IPC file whose footer's length is not within it")
    footer, data = _Table.root(memoryview(body)[end - size : end]), pa.py_buffer(body)
    for field in (2, 3):  # Footer.dictionaries, Footer.recordBatches
        for offset, _, _ in footer.structs(field, _BLOCK):
            if not 8 <= offset < end - size:
                raise pa.ArrowInvalid("an Arrow IPC file's batch outside its body")
            yield pa.ipc.read_message(data.slice(offset))


def _unpacked(batch: _Table, body: pa.Buffer | None) -> int:
    """The batch's body size once its buffers are unpacked."""
    data = memoryview(body) if body is not None else memoryview(b"")  # no copy: only 8 bytes a buffer are read
    if batch.table(3) is None:  # no BodyCompression: the buffers are as sent
        return len(data)
    total = 0
    for offset, length in batch.structs(2, "<qq"):  # RecordBatch.buffers: Buffer structs (offset, length)
        if length == 0:
            continue
        if offset < 0 or length < 8 or offset + length > len(data):
            raise pa.ArrowInvalid("a compressed buffer outside the message's body")
        (unpacked,) = struct.unpack_from("<q", data, offset)
        total += length - 8 if unpacked == _NOT_COMPRESSED else max(unpacked, 0)
    return total


class _Table:
    """One FlatBuffer table: reads its scalar, table and struct-vector fields by index (the schema's order)."""

    def __init__(self, data: bytes | memoryview, position: int) -> None:
        self._data, self._position = data, position
        (back,) = self._unpack("<i", position)
        self._vtable = position - back
        self._vtable_size, _ = self._unpack("<HH", self._vtable)

    @classmethod
    def root(cls, data: bytes | memoryview) -> _Table:
        (position,) = struct.unpack_from("<I", data, 0)
        return cls(data, position)

    def ubyte(self, field: int) -> int:
        at = self._field(field)
        return 0 if at is None else int(self._unpack("<B", at)[0])

    def long(self, field: int) -> int:
        at = self._field(field)
        return 0 if at is None else int(self._unpack("<q", at)[0])

    def table(self, field: int) -> _Table | None:
        at = self._field(field)
        return None if at is None else _Table(self._data, at + self._unpack("<I", at)[0])

    def structs(self, field: int, form: str) -> list[tuple[int, ...]]:
        """A vector of structs, each unpacked with `form`."""
        at = self._field(field)
        if at is None:
            return []
        start, size = at + self._unpack("<I", at)[0], struct.calcsize(form)
        (count,) = self._unpack("<I", start)
        if start + 4 + size * count > len(self._data):
            raise pa.ArrowInvalid("a list in an Arrow message's metadata runs past it")
        return [self._unpack(form, start + 4 + size * i) for i in range(count)]

    def _field(self, field: int) -> int | None:
        entry = 4 + 2 * field
        if entry + 2 > self._vtable_size:
            return None
        (offset,) = self._unpack("<H", self._vtable + entry)
        return self._position + offset if offset else None

    def _unpack(self, form: str, at: int) -> tuple[int, ...]:
        if at < 0:  # unpack_from would count it from the end
            raise pa.ArrowInvalid("a message's metadata is malformed")
        try:
            return struct.unpack_from(form, self._data, at)
        except struct.error:
            raise pa.ArrowInvalid("a message's metadata is cut short or malformed") from None
