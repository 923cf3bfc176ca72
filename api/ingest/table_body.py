"""Arrow IPC stream or file and Parquet bodies, read into one table within what a request may hold.

A small body can unpack to far more than its size: Parquet's run-length and dictionary encodings and its
compression, compressed Arrow buffers, and dictionaries of long strings expanded row by row. A Parquet body of
228 KB holding 50 million rows had the API's worker killed for its memory (24 GB) after two minutes, every request
it held lost with it. So the rows are counted before they are read and held to what a request may queue, the
unpacked size is read before anything is unpacked (Parquet's footer; each Arrow batch's metadata,
`arrow_messages.py`), and what the table takes in memory with its dictionaries expanded is reckoned before
anything expands them.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from api.ingest.arrow_messages import batch_sizes, is_arrow_file
from api.ingest.encodings import UnpacksTooLarge
from api.ingest.writer import TooManyRecords

# What a body's table may take in memory, unpacked, as a multiple of the body limit: a Parquet body of sales holds
# about a tenth of its unpacked size; 32 MiB of them unpack to well under this 512 MiB.
UNPACKED_PER_BODY_BYTE = 16


@dataclass(frozen=True, slots=True)
class TableLimits:
    rows: int  # records a request may hold (TICKETTOKEN_INGEST_MAX_PENDING_RECORDS)
    bytes: int  # what its table may take in memory, unpacked


class UnreadableTable(Exception):
    """An Arrow or Parquet body that cannot be read as a table: a 400."""


def read_table(body: bytes, content_type: str, limits: TableLimits) -> pa.Table:
    """An Arrow IPC stream or file (told apart by its first bytes) or a Parquet file, as one table; TooManyRecords
    or UnpacksTooLarge (413s) before it is read where its footer or batches say so, or before its dictionaries are
    expanded."""
    kind = "Parquet" if "parquet" in content_type else "Arrow IPC stream or file"
    try:
        table, schema = _parquet(body, limits) if kind == "Parquet" else (_arrow(body, limits), None)
        _check_names(list(table.schema), "")
        _check_unpacked(table, limits)
        if schema is not None and table.schema != schema:
            table = table.cast(schema)  # its text as the file has it, read as dictionaries for the reckoning
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as error:
        raise UnreadableTable(f"the body is not a readable {kind}: {error}") from None
    _check_valid(table)
    return table


def _parquet(body: bytes, limits: TableLimits) -> tuple[pa.Table, pa.Schema]:
    """The table with its text as dictionaries, and the file's own schema."""
    footer = pq.ParquetFile(io.BytesIO(body))
    meta = footer.metadata
    _check_rows(meta.num_rows, limits)
    _check_bytes(sum(meta.row_group(group).total_byte_size for group in range(meta.num_row_groups)), limits)
    # Text read as dictionaries (nested fields too, by their paths), whose expansion is reckoned before anything
    # expands them; the footer as already read.
    texts = [column.path for column in footer.schema if column.physical_type == "BYTE_ARRAY"]
    return pq.ParquetFile(io.BytesIO(body), metadata=meta, read_dictionary=texts).read(), footer.schema_arrow


def _arrow(body: bytes, limits: TableLimits) -> pa.Table:
    rows = unpacked = 0
    for batch in batch_sizes(body):  # from the batches' metadata: a compressed batch is unpacked whole as it is read
        rows, unpacked = rows + batch.rows, unpacked + batch.unpacked_bytes
        _check_rows(rows, limits)
        _check_bytes(unpacked, limits)
    table = (pa.ipc.open_file(body) if is_arrow_file(body) else pa.ipc.open_stream(body)).read_all()
    plain = pa.schema([column.with_type(_without_views(column.type)) for column in table.schema])
    return table if plain == table.schema else table.cast(plain)


def _check_rows(rows: int, limits: TableLimits) -> None:
    if rows > limits.rows:
        raise TooManyRecords(f"more than {limits.rows} records in one request; at most {limits.rows} are taken at once")


def _check_bytes(unpacked: int, limits: TableLimits) -> None:
    if unpacked > limits.bytes:
        raise UnpacksTooLarge(f"the body's table unpacks to more than {limits.bytes} bytes")


def _check_unpacked(table: pa.Table, limits: TableLimits) -> None:
    """What the table takes in memory with each dictionary of text expanded (as the checks and the records do)."""
    size = 0
    for column in table.columns:
        size += sum(_expanded_bytes(chunk) for chunk in column.chunks)
        _check_bytes(size, limits)


def _expanded_bytes(array: pa.Array) -> int:
    """The array's size with its dictionaries of text expanded, nested ones (a struct's fields) included."""
    if pa.types.is_dictionary(array.type) and _is_text(array.type.value_type):
        values = pc.sum(pc.take(pc.binary_length(array.dictionary), array.indices)).as_py() or 0
        return int(values) + int(array.indices.nbytes) + 4 * len(array)  # the values, and an offset per row
    if pa.types.is_struct(array.type):
        own = array.buffers()[0]  # its validity bitmap
        return (int(own.size) if own is not None else 0) + sum(
            _expanded_bytes(array.field(i)) for i in range(array.type.num_fields)
        )
    if pa.types.is_list(array.type) or pa.types.is_large_list(array.type):
        return int(array.offsets.nbytes) + _expanded_bytes(array.flatten())
    return int(array.nbytes)


def _is_text(kind: pa.DataType) -> bool:
    text = (pa.types.is_string, pa.types.is_large_string, pa.types.is_binary, pa.types.is_large_binary)
    return any(bool(test(kind)) for test in text)


def _check_valid(table: pa.Table) -> None:
    """Neither format's reader checks that text is UTF-8, and a writer of another language may not either: such a
    string was stored as it came and then broke every live view of its event (a 500 on reading it back). Checked
    in full here, text and every other column (about 3 ms for 100,000 sales)."""
    for name, column in zip(table.column_names, table.columns, strict=True):
        try:
            column.validate(full=True)
        except pa.ArrowInvalid as error:
            raise UnreadableTable(f"column {name!r} is not valid: {error}") from None


def _check_names(fields: list[pa.Field], parent: str) -> None:
    """No name given to two columns, nor to two fields of a struct column (`buyer`): which of them was meant cannot
    be known (each was a 500)."""
    seen: set[str] = set()
    for column in fields:
        if column.name in seen:
            raise UnreadableTable(f"column {parent + column.name!r} appears twice")
        seen.add(column.name)
        if pa.types.is_struct(column.type):
            _check_names([column.type.field(i) for i in range(column.type.num_fields)], f"{parent}{column.name}.")


def _without_views(kind: pa.DataType) -> pa.DataType:
    """`kind` with its view strings as plain ones. Polars writes Arrow streams with view strings
    (`string_view`), which the column checks do not take: such a table went record by record, at a tenth
    of the speed. A body is at most tens of MiB, so plain strings' 32-bit offsets always suffice."""
    if pa.types.is_string_view(kind):
        return pa.string()
    if pa.types.is_binary_view(kind):
        return pa.binary()
    if pa.types.is_struct(kind):
        return pa.struct([kind.field(i).with_type(_without_views(kind.field(i).type)) for i in range(kind.num_fields)])
    if pa.types.is_large_list(kind) or pa.types.is_large_list_view(kind):
        return pa.large_list(kind.value_field.with_type(_without_views(kind.value_type)))
    if pa.types.is_list(kind) or pa.types.is_list_view(kind):
        return pa.list_(kind.value_field.with_type(_without_views(kind.value_type)))
    return kind
