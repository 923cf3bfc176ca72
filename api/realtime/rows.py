"""An event's rows of one fact stream, as the live views read them: numpy columns sorted by time.

Rows come from the table (`FINAL`, so a record's copies count once) or from a committed ingest batch (the
writer's Arrow table), through one conversion. Money is kept as integer cents, text as codes into a label
list, and each row keeps the 64-bit hash of its identity so that a record met twice (a commit heard while
the table was being read) is kept once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from api.ingest.seen import Hashes, identity_hashes

Ints = npt.NDArray[np.int64]
Numbers = npt.NDArray[Any]
# A record's copies share a partition (the month of its own time, docs/ingest.md), so FINAL need not merge
# across partitions: with this, FINAL costs about what reading without it does.
READ_SETTINGS = {"do_not_merge_across_partitions_select_final": 1}


@dataclass(frozen=True)
class Spec:
    """What the live views keep of one stream: its table, identity and time, text columns and numbers."""

    stream: str
    table: str
    id_field: str
    time_field: str
    texts: tuple[str, ...]
    sources: tuple[str, ...]  # the table's columns the numbers are made of
    numbers: Callable[[pa.Table], dict[str, Numbers]]

    @property
    def columns(self) -> list[str]:
        """The table's columns the live views keep of this stream."""
        return list(dict.fromkeys(("event_id", self.id_field, self.time_field, *self.texts, *self.sources)))

    @property
    def select(self) -> str:
        columns = ", ".join(_READ_AS.get(name, name) for name in self.columns)
        return (
            f"SELECT {columns} FROM {self.table} FINAL WHERE event_id = {{event_id:String}} ORDER BY {self.time_field}"
        )


_READ_AS = {"direction": "toString(direction) AS direction"}  # an Enum8 comes back as its number otherwise


def cents(column: pa.Array | pa.ChunkedArray) -> Ints:
    """Money (decimal text or a Decimal column) as integer cents, exactly: the decimal's own unscaled value."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if not pa.types.is_decimal128(array.type) or array.type.scale != 2:
        array = array.cast(pa.decimal128(18, 2))
    words = np.frombuffer(array.buffers()[1], dtype=np.int64)  # little-endian 128-bit: low word first
    low: Ints = words[2 * array.offset :: 2][: len(array)].copy()
    return low


def _ints(table: pa.Table, name: str) -> Ints:
    return np.asarray(table.column(name).to_numpy(), dtype=np.int64)


def _sale_numbers(table: pa.Table) -> dict[str, Numbers]:
    quantity = _ints(table, "quantity")
    return {"quantity": quantity, "cents": quantity * cents(table.column("unit_price"))}


def _scan_numbers(table: pa.Table) -> dict[str, Numbers]:
    entry = np.asarray(_text(table.column("direction")).to_numpy(zero_copy_only=False) == b"entry", dtype=np.int64)
    tickets = pl.Series(values=_text(table.column("ticket_id"))).hash(seed=0).to_numpy()
    return {"entry": entry, "ticket": tickets}


def _revenue_numbers(table: pa.Table) -> dict[str, Numbers]:
    return {"cents": cents(table.column("amount"))}


def _social_numbers(table: pa.Table) -> dict[str, Numbers]:
    sentiment = table.column("sentiment").cast(pa.float64()).to_numpy(zero_copy_only=False)  # None -> nan
    return {"reach": _ints(table, "reach"), "engagement": _ints(table, "engagement"),
            "sentiment": np.asarray(sentiment, dtype=np.float64)}  # fmt: skip


SPECS = {
    spec.stream: spec
    for spec in (
        Spec("sale", "sales", "sale_id", "purchased_at", ("tier", "channel"), ("quantity", "unit_price"),
             _sale_numbers),
        Spec("attendance", "scans", "scan_id", "scanned_at", ("gate",), ("direction", "ticket_id"), _scan_numbers),
        Spec("revenue", "revenue", "revenue_id", "recorded_at", ("category",), ("amount",), _revenue_numbers),
        Spec("social", "social", "post_id", "posted_at", ("platform", "kind"),
             ("reach", "engagement", "sentiment"), _social_numbers),
    )
}  # fmt: skip


def _text(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Text as bytes: the table may hold some that are not UTF-8 (ingest refuses them, an admin's own INSERT need
    not), which a cast to text, or reading it back as text, fails on: every view of its event was a 500."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    return array if array.type == pa.binary() else array.cast(pa.binary())


def _labels(values: pa.Array) -> list[str]:
    """Text as shown: bytes that are not UTF-8 escaped (`caf\\xe9`), so that distinct ones stay distinct."""
    return [value.decode("utf-8", "backslashreplace") for value in values.to_pylist()]


@dataclass
class Rows:
    """One stream's rows (of one event, or of several while a commit is split up), sorted by time."""

    times: Ints  # epoch milliseconds, UTC
    hashes: Hashes  # identity hashes
    numbers: dict[str, Numbers]
    codes: dict[str, npt.NDArray[np.int32]]  # per text column, indices into `labels`
    labels: dict[str, list[str]]
    _sorted_hashes: Hashes | None = field(default=None, repr=False)
    # Per (text column, number columns): each label's row count and sums. Kept, and carried through `merged`,
    # so that a view of a large event costs the rows added since its last answer, not a pass over all of them.
    _sums: dict[tuple[str, tuple[str, ...]], LabelSums] = field(default_factory=dict, repr=False)
    _room: _Room | None = field(default=None, repr=False)  # see `_placed`

    def __len__(self) -> int:
        return len(self.times)

    @classmethod
    def of(cls, spec: Spec, table: pa.Table, hashes: Hashes | None = None, *, by_time: bool = True) -> Rows:
        """Rows from a table in the warehouse's columns (read back, or as the ingest writer committed it, with
        the identity hashes it made); `by_time=False` keeps the table's order (for `split`)."""
        times = np.asarray(pc.cast(table.column(spec.time_field), pa.int64()).to_numpy(), dtype=np.int64)
        codes: dict[str, npt.NDArray[np.int32]] = {}
        labels: dict[str, list[str]] = {}
        for name in spec.texts:
            encoded = _text(table.column(name)).dictionary_encode()
            codes[name] = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int32)
            labels[name] = _labels(encoded.dictionary)
        if hashes is None:
            hashes = identity_hashes(table.column("event_id"), table.column(spec.id_field))
        rows = cls(times, hashes, spec.numbers(table), codes, labels)
        return rows.sorted() if by_time else rows

    def sorted(self) -> Rows:
        if len(self.times) < 2 or bool((self.times[1:] >= self.times[:-1]).all()):
            return self
        return self.take(np.argsort(self.times, kind="stable"))

    def take(self, rows: npt.NDArray[np.intp] | slice) -> Rows:
        """These rows (a slice is a view: no copy)."""
        return self.with_columns([column[rows] for column in _columns(self)], self.labels)

    def with_columns(self, columns: Sequence[Numbers], labels: dict[str, list[str]], **kept: Any) -> Rows:
        """Rows of these columns, in `_columns`' order (times, hashes, numbers, codes), named as these rows'."""
        names, codes = list(self.numbers), list(self.codes)
        return Rows(columns[0], columns[1], dict(zip(names, columns[2 : 2 + len(names)], strict=True)),
                    dict(zip(codes, columns[2 + len(names) :], strict=True)), labels, **kept)  # fmt: skip

    def until(self, at_ms: int) -> Rows:
        """The rows at or before `at_ms` (a view: no copy)."""
        end = int(np.searchsorted(self.times, at_ms, side="right"))
        if end == len(self.times):
            return self
        part = self.take(slice(0, end))
        if end >= len(self.times) // 2:  # a few rows after `at` (a live sale stamped a moment after "now"):
            # the kept sums less the tail's, rather than a pass over every row
            tail = self.take(slice(end, len(self.times)))
            for key, sums in list(self._sums.items()):
                part._sums[key] = [kept - cut for kept, cut in zip(sums, tail.label_sums(*key), strict=True)]
        return part

    def after(self, start_ms: int) -> slice:
        """The positions of the rows strictly after `start_ms`."""
        return slice(int(np.searchsorted(self.times, start_ms, side="right")), len(self.times))

    def count_after(self, start_ms: int) -> int:
        """How many rows are strictly after `start_ms`."""
        return len(self.times) - int(np.searchsorted(self.times, start_ms, side="right"))

    def label_sums(self, column: str, names: tuple[str, ...]) -> LabelSums:
        """Per label of the text column `column`: the number of rows, and the sums of the number columns
        `names` (integers)."""
        key = (column, names)
        found = self._sums.get(key)
        if found is None:
            found = self._sums[key] = _label_sums(self, column, names)
        return found

    def holds(self, hashes: Hashes) -> npt.NDArray[np.bool_]:
        if self._sorted_hashes is None:
            self._sorted_hashes = np.sort(self.hashes)
        known = self._sorted_hashes
        if not len(known):
            return np.zeros(len(hashes), dtype=np.bool_)
        positions = np.searchsorted(known, hashes).clip(max=len(known) - 1)
        return np.asarray(known[positions] == hashes, dtype=np.bool_)

    def split(self, scopes: Sequence[str]) -> dict[str, Rows]:
        """These rows per event, given each row's event id (in these rows' order), each part sorted by time."""
        keys, inverse = np.unique(np.asarray(scopes, dtype=object), return_inverse=True)
        order = np.argsort(inverse, kind="stable")
        bounds = np.searchsorted(inverse[order], np.arange(len(keys) + 1))
        return {str(key): self.take(order[bounds[i] : bounds[i + 1]]).sorted() for i, key in enumerate(keys)}


LabelSums = list[Ints]  # [row counts, then one array of sums per number column], indexed by label code


def _label_sums(rows: Rows, column: str, names: tuple[str, ...]) -> LabelSums:
    codes, size = rows.codes[column], len(rows.labels[column])
    sums = [np.bincount(codes, weights=rows.numbers[name], minlength=size) for name in names]
    return [np.bincount(codes, minlength=size).astype(np.int64), *(np.rint(s).astype(np.int64) for s in sums)]


def _carried(base: Rows, new: Rows, key: tuple[str, tuple[str, ...]]) -> LabelSums:
    """`base`'s sums plus `new`'s, over `new`'s labels (which extend `base`'s)."""
    added = new.label_sums(*key)
    return [_sum(old, more) for old, more in zip(base._sums[key], added, strict=True)]


def _sum(old: Ints, more: Ints) -> Ints:
    """`old + more`, `old` taken as zero past its end (`more` is at least as long). Not `np.pad`: its Python
    took half of a live merge's time."""
    if len(old) == len(more):
        return old + more
    total = more.copy()
    total[: len(old)] += old
    return total


def merged(base: Rows, later: Sequence[Rows], *, dedupe: bool) -> Rows:
    """`base` with the rows of `later`, in time order; with `dedupe`, only the records `base` does not hold (by
    identity hash), each once. Rows that come after all of `base`'s are appended in place (amortised); others
    cost a copy of `base`, never a sort of it."""
    parts = [part for part in later if len(part)]
    if not parts:
        return base
    new = _joined(parts, base.labels)
    if dedupe:
        new = _unseen(base, new)
        if not len(new):
            return base
    known = base._sorted_hashes
    if known is not None:  # kept sorted as it grows: checking the next rows needs no sort of them all
        added = np.sort(new.hashes)
        known = np.insert(known, np.searchsorted(known, added), added)
    columns, room = _placed(base, new)
    return base.with_columns(
        columns,
        new.labels,
        _sorted_hashes=known,
        _sums={key: _carried(base, new, key) for key in list(base._sums)},  # list(): other threads add keys
        _room=room,
    )


@dataclass
class _Room:
    """Arrays with spare capacity whose first `used` entries are a Rows' columns: later rows that come after
    all of them are written past the end instead of copying every column (amortised, like a list's append)."""

    columns: list[Numbers]
    used: int


def _columns(rows: Rows) -> list[Numbers]:
    return [rows.times, rows.hashes, *rows.numbers.values(), *rows.codes.values()]


def _placed(base: Rows, new: Rows) -> tuple[list[Numbers], _Room | None]:
    """The columns of `base` and `new` together in time order (and the room they sit in, when appended)."""
    size, added = len(base), len(new)
    keep = int(np.searchsorted(base.times, new.times[0], side="right"))
    if keep < size:
        # Rows after the first new one are sorted together with the new ones (stably, the older rows first);
        # those before it stay where they are.
        order = np.argsort(np.concatenate([base.times[keep:], new.times]), kind="stable")
        return [
            np.concatenate([old[:keep], np.concatenate([old[keep:], more])[order]])
            for old, more in zip(_columns(base), _columns(new), strict=True)
        ], None
    room = base._room
    if room is None or room.used != size or len(room.columns[0]) < size + added:
        capacity = max(2 * (size + added), 1024)
        grown = [np.empty(capacity, dtype=old.dtype) for old in _columns(base)]
        for full, old in zip(grown, _columns(base), strict=True):
            full[:size] = old
        room = _Room(grown, size)
    for full, more in zip(room.columns, _columns(new), strict=True):
        full[size : size + added] = more
    room.used = size + added
    return [full[: room.used] for full in room.columns], room


def _unseen(base: Rows, rows: Rows) -> Rows:
    """The rows of `rows` whose records `base` does not hold, each record once."""
    _, first = np.unique(rows.hashes, return_index=True)
    once = np.zeros(len(rows), dtype=np.bool_)
    once[first] = True
    return rows.take(np.flatnonzero(once & ~base.holds(rows.hashes)))


def _joined(parts: Sequence[Rows], labels: dict[str, list[str]]) -> Rows:
    """The parts as one, sorted by time, their codes into `labels` extended by their own labels."""
    codes: dict[str, npt.NDArray[np.int32]] = {}
    joined_labels: dict[str, list[str]] = {}
    for name, known in labels.items():
        names = list(dict.fromkeys([*known, *(label for part in parts for label in part.labels[name])]))
        index = {label: i for i, label in enumerate(names)}
        codes[name] = np.concatenate([
            np.asarray([index[label] for label in part.labels[name]], dtype=np.int32)[part.codes[name]]
            if len(part.labels[name]) else part.codes[name]
            for part in parts
        ])  # fmt: skip
        joined_labels[name] = names
    together = Rows(
        np.concatenate([part.times for part in parts]),
        np.concatenate([part.hashes for part in parts]),
        {name: np.concatenate([part.numbers[name] for part in parts]) for name in parts[0].numbers},
        codes,
        joined_labels,
    )
    return together.sorted()


def empty(spec: Spec) -> Rows:
    """No rows, with the stream's columns."""
    table = pa.table({
        "event_id": pa.array([], pa.string()), spec.id_field: pa.array([], pa.string()),
        spec.time_field: pa.array([], pa.timestamp("ms", tz="UTC")),
        **{name: pa.array([], pa.string()) for name in spec.texts},
        **{name: pa.array([], _EMPTY_TYPES.get(name, pa.int64())) for name in spec.sources},
    })  # fmt: skip
    return Rows.of(spec, table)


_EMPTY_TYPES = {"unit_price": pa.decimal128(12, 2), "amount": pa.decimal128(14, 2), "direction": pa.string(),
                "ticket_id": pa.string(), "sentiment": pa.float32()}  # fmt: skip
