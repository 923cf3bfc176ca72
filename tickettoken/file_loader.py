"""`tickettoken load`: files of records sent through the ingest API, for backfills.

Parquet and Arrow files go as Arrow IPC stream bodies (the backfill path), JSON and NDJSON as JSON arrays, each of
at most `rows` records, read as they are sent (a Parquet file is never held whole). A few bodies are in flight
at once; a 429 or 503 is tried again (`ingest_client.py`). A body the service finds too large (413, against its
body or queue limit) is split in two until it fits. A refused body stops the load: the bodies before it are
committed, and loading the file again is safe, as every record carries its own id (those stored count as
duplicates).
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, cast

import httpx
import msgspec
import pyarrow as pa
import pyarrow.parquet as pq

from api.ingest.arrow_messages import FILE_MAGIC
from api.ingest.media_types import ARROW, JSON
from tickettoken.ingest_client import Answer, Refused, arrow_body, post_body

FORMATS = {
    ".parquet": "parquet", ".parq": "parquet", ".pq": "parquet",
    ".arrow": "arrow", ".arrows": "arrow", ".feather": "arrow", ".ipc": "arrow",
    ".ndjson": "ndjson", ".jsonl": "ndjson",
    ".json": "json",
}  # fmt: skip
JSON_BODY_BYTES = 8 * 1024 * 1024  # a JSON body is cut here too: a quarter of the service's default limit
_BOM = b"\xef\xbb\xbf"  # some editors start UTF-8 text with it


class UnreadableFile(Exception):
    """A file that is not what its format says (a line that is not JSON, a broken Parquet file)."""


@dataclass
class Chunk:
    """Records of one file for one request: a table, or the JSON texts of its records; and where each sits in the
    file (its line in NDJSON, else its position, from 1)."""

    path: Path
    records: pa.Table | list[bytes]
    numbers: Sequence[int]
    unit: str = "record"  # what `numbers` count: "line" for NDJSON

    @property
    def size(self) -> int:
        return len(self.numbers)

    def body(self) -> tuple[bytes, str]:
        if isinstance(self.records, pa.Table):
            return arrow_body(self.records), ARROW
        return b"[" + b",".join(self.records) + b"]", JSON

    def halves(self) -> tuple[Chunk, Chunk]:
        middle = self.size // 2
        first: pa.Table | list[bytes]
        if isinstance(self.records, pa.Table):
            first, second = self.records.slice(0, middle), self.records.slice(middle)
        else:
            first, second = self.records[:middle], self.records[middle:]
        return (
            Chunk(self.path, first, self.numbers[:middle], self.unit),
            Chunk(self.path, second, self.numbers[middle:], self.unit),
        )

    def where(self, index: int) -> str:
        """The record at `index` in this chunk's body, as the file counts it."""
        return f"{self.path.name} {self.unit} {self.numbers[index]:,}" if 0 <= index < self.size else str(self.path)


@dataclass
class Loaded:
    """What a load committed, and the records refused (with `partial`, quarantined) as the file counts them."""

    answer: Answer = field(default_factory=Answer)
    requests: int = 0
    problems: list[str] = field(default_factory=list)  # "<file> line 3: <field>: <message>"

    def add(self, chunk: Chunk, answer: Answer) -> None:
        self.answer.add(answer)
        self.requests += 1
        self.problems += [_problem(chunk, error) for error in answer.errors]


class LoadStopped(Exception):
    """The service refused a body: why, and what was committed before the load stopped."""

    def __init__(self, reason: str, loaded: Loaded) -> None:
        super().__init__(reason)
        self.loaded = loaded


def file_format(path: Path, named: str | None) -> str:
    """The format given, or the one the file's extension names (before a `.gz`); ValueError for neither, or for
    a gzipped file of a format that compresses itself."""
    suffix = _inner_suffix(path)
    found = named or FORMATS.get(suffix)
    if found is None:
        raise ValueError(f"{path}: cannot tell its format from {suffix or 'no extension'!r}: give --format")
    if _gzipped(path) and found not in ("ndjson", "json"):
        raise ValueError(f"{path}: only JSON and NDJSON files are read gzipped ({found} compresses itself)")
    return found


def record_count(path: Path, fmt: str) -> int | None:
    """How many records the file holds, where that is cheap to know (for the progress bar)."""
    if fmt == "parquet":
        return int(_parquet(path).metadata.num_rows)
    if fmt == "ndjson" and not _gzipped(path):  # lines, blank ones too: a bound the bar may stop short of
        with path.open("rb") as source:
            lines = sum(block.count(b"\n") for block in iter(lambda: source.read(1 << 20), b""))
            source.seek(max(0, source.tell() - 1))
            return lines + (source.read(1) not in (b"\n", b""))
    if fmt == "arrow" and _is_arrow_file(path):
        try:
            reader = pa.ipc.open_file(pa.memory_map(str(path)))
            return sum(int(reader.get_batch(i).num_rows) for i in range(reader.num_record_batches))
        except pa.ArrowInvalid as error:
            raise _unreadable_arrow(path, error) from None
    return None


def chunks(path: Path, fmt: str, rows: int) -> Iterator[Chunk]:
    """The file's records, `rows` at a time (JSON bodies also at most JSON_BODY_BYTES)."""
    if fmt == "parquet":
        yield from _table_chunks(path, _parquet_batches(path, rows), rows)
    elif fmt == "arrow":
        yield from _table_chunks(path, _arrow_batches(path), rows)
    elif fmt == "ndjson":
        yield from _text_chunks(path, _ndjson_records(path), rows, "line")
    else:
        yield from _text_chunks(path, enumerate(_json_records(path), start=1), rows, "record")


def load_chunks(
    client: httpx.Client,
    stream: str,
    pieces: Iterable[Chunk],
    *,
    concurrency: int,
    partial: bool,
    on_sent: Callable[[int], None] = lambda _: None,
) -> Loaded:
    """Send every chunk, `concurrency` at once; LoadStopped at the first refusal, once those in flight are
    answered."""
    loaded = Loaded()
    stopped: str | None = None
    with ThreadPoolExecutor(concurrency, thread_name_prefix="load") as pool:
        in_flight: set[Future[_Sent]] = set()
        queue = iter(pieces)
        while True:
            while stopped is None and len(in_flight) < concurrency:
                try:
                    chunk = next(queue, None)
                except UnreadableFile as error:  # what was sent before it still counts
                    stopped = str(error)
                    break
                if chunk is None:
                    break
                in_flight.add(pool.submit(_send, client, stream, chunk, partial))
            if not in_flight:
                break
            done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in done:
                sent = future.result()
                for part, answer in sent.answered:
                    loaded.add(part, answer)
                    on_sent(part.size)
                if sent.refused is not None and stopped is None:
                    stopped = _refusal(*sent.refused, loaded)
    if stopped is not None:
        raise LoadStopped(stopped, loaded)
    return loaded


@dataclass
class _Sent:
    """How a chunk went: the parts of it answered, and the part refused (with why), if one was."""

    answered: list[tuple[Chunk, Answer]] = field(default_factory=list)
    refused: tuple[Chunk, Refused | httpx.HTTPError] | None = None


def _send(client: httpx.Client, stream: str, chunk: Chunk, partial: bool, sent: _Sent | None = None) -> _Sent:
    """Post `chunk`; one too large for the service is sent as its halves, each split again as needed, up to the
    first part refused."""
    sent = _Sent() if sent is None else sent
    body, content_type = chunk.body()
    try:
        sent.answered.append((chunk, post_body(client, stream, body, content_type, partial=partial)))
    except Refused as error:
        if error.status != 413 or chunk.size < 2:
            sent.refused = (chunk, error)
            return sent
        for half in chunk.halves():
            if _send(client, stream, half, partial, sent).refused is not None:
                break
    except httpx.HTTPError as error:
        sent.refused = (chunk, error)
    return sent


def _refusal(chunk: Chunk, error: Refused | httpx.HTTPError, loaded: Loaded) -> str:
    """Why the load stops, with the refused records as the file counts them."""
    last = chunk.numbers[-1] if chunk.size else 0
    span = f"{chunk.where(0)} to {last:,}" if chunk.size > 1 else chunk.where(0)
    if isinstance(error, httpx.HTTPError):
        return f"{span}: the service did not answer ({error}), so they may or may not be written"
    loaded.problems += [_problem(chunk, e) for e in error.answer.get("errors", [])]
    return f"{span} refused, nothing of them written: {error}"


def _problem(chunk: Chunk, error: dict[str, object]) -> str:
    index = error.get("index")
    where = chunk.where(index) if isinstance(index, int) else str(chunk.path)
    return f"{where}: {error.get('field')}: {error.get('message')}"


def _parquet(path: Path) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as error:
        raise UnreadableFile(f"{path}: not a readable Parquet file ({error})") from None


def _parquet_batches(path: Path, rows: int) -> Iterator[pa.RecordBatch]:
    """The file's rows in batches, as read: a damaged page further in stops the load there, named."""
    try:
        yield from _parquet(path).iter_batches(batch_size=rows)
    except (pa.ArrowInvalid, OSError) as error:
        raise UnreadableFile(f"{path}: a part of this Parquet file cannot be read ({error})") from None


def _is_arrow_file(path: Path) -> bool:
    with path.open("rb") as source:
        return source.read(len(FILE_MAGIC)) == FILE_MAGIC


def _arrow_batches(path: Path) -> Iterator[pa.RecordBatch]:
    """An Arrow IPC file's or stream's batches (polars' `write_ipc` writes a file, a stream writer a stream)."""
    source = pa.memory_map(str(path))
    try:
        if _is_arrow_file(path):
            reader = pa.ipc.open_file(source)
            for i in range(reader.num_record_batches):
                yield reader.get_batch(i)
        else:
            yield from pa.ipc.open_stream(source)
    except pa.ArrowInvalid as error:
        raise _unreadable_arrow(path, error) from None


def _unreadable_arrow(path: Path, error: Exception) -> UnreadableFile:
    return UnreadableFile(f"{path}: not a readable Arrow IPC file or stream ({error})")


def _table_chunks(path: Path, batches: Iterable[pa.RecordBatch], rows: int) -> Iterator[Chunk]:
    """The batches regrouped into tables of `rows` rows (the last may hold fewer)."""
    held: list[pa.RecordBatch] = []
    count = 0
    first = 1
    for batch in batches:
        held.append(batch)
        count += batch.num_rows
        while count >= rows:
            table = pa.Table.from_batches(held)
            yield Chunk(path, table.slice(0, rows), range(first, first + rows))
            first += rows
            rest = table.slice(rows)
            held, count = rest.to_batches(), rest.num_rows
    if count:
        yield Chunk(path, pa.Table.from_batches(held), range(first, first + count))


def _ndjson_records(path: Path) -> Iterator[tuple[int, bytes]]:
    """(line number, JSON text) of each record; blank lines skipped; a line that is not JSON stops the load."""
    with _open_text(path) as lines:
        for number, line in enumerate(lines, start=1):
            text = (line.removeprefix(_BOM) if number == 1 else line).strip()
            if not text:
                continue
            try:
                msgspec.json.decode(text, type=msgspec.Raw)  # checked, not built
            except msgspec.DecodeError as error:
                raise UnreadableFile(f"{path.name} line {number:,}: not JSON ({error})") from None
            yield number, text


def _json_records(path: Path) -> list[bytes]:
    """The JSON texts of the records of a file holding one JSON object or an array of them (read whole)."""
    with _open_text(path) as source:
        data = source.read().removeprefix(_BOM)
    try:
        if data.lstrip().startswith(b"["):
            return [bytes(record) for record in msgspec.json.decode(data, type=list[msgspec.Raw])]
        return [bytes(msgspec.json.decode(data, type=msgspec.Raw))]
    except msgspec.DecodeError as error:
        raise UnreadableFile(f"{path.name}: not JSON ({error})") from None


def _gzipped(path: Path) -> bool:
    return path.suffix.lower() == ".gz"


def _inner_suffix(path: Path) -> str:
    """`.ndjson` for `sales.ndjson` and `sales.ndjson.gz`."""
    return (path.with_suffix("") if _gzipped(path) else path).suffix.lower()


@contextmanager
def _open_text(path: Path) -> Iterator[BinaryIO]:
    """The file's bytes, unpacked as read when it is gzipped; UnreadableFile for a broken gzip stream."""
    try:
        with gzip.open(path, "rb") if _gzipped(path) else path.open("rb") as source:
            yield cast("BinaryIO", source)
    except (gzip.BadGzipFile, EOFError, zlib.error) as error:
        raise UnreadableFile(f"{path.name}: not a readable gzip file ({error})") from None


def _text_chunks(path: Path, records: Iterable[tuple[int, bytes]], rows: int, unit: str) -> Iterator[Chunk]:
    held: list[bytes] = []
    numbers: list[int] = []
    size = 0
    for number, text in records:
        if held and (len(held) >= rows or size + len(text) > JSON_BODY_BYTES):
            yield Chunk(path, held, numbers, unit)
            held, numbers, size = [], [], 0
        held.append(text)
        numbers.append(number)
        size += len(text) + 1
    if held:
        yield Chunk(path, held, numbers, unit)
