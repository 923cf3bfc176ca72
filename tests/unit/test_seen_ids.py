"""The Bloom filter behind ingest's duplicate checks, identity hashes, and the bus message of committed ids."""

from __future__ import annotations

import time

import clickhouse_connect
import numpy as np
import pyarrow as pa
from clickhouse_connect.driver.client import Client

from api.ingest import sharing
from api.ingest.seen import BloomFilter, Hashes, SeenIds, identity_hashes
from api.ingest.writer import SORT_IN_POLARS_FROM, CommittedBatch, _first_occurrences, _Prepared, _sorted
from tests.support import free_port


def _random_hashes(count: int, seed: int, *, odd: bool) -> Hashes:
    values = np.random.default_rng(seed).integers(0, 2**62, count, dtype=np.uint64) * np.uint64(2)
    return values + np.uint64(1) if odd else values


def test_bloom_filter_never_forgets_and_rarely_imagines() -> None:
    bloom = BloomFilter(200_000)
    added = _random_hashes(200_000, 1, odd=True)
    bloom.add(added)
    assert bloom.may_contain(added).all(), "a Bloom filter has no false negatives"
    others = _random_hashes(500_000, 2, odd=False)  # even: certainly never added
    rate = float(bloom.may_contain(others).mean())
    assert rate < 0.01, f"false positives at capacity: {rate:.4f}"
    assert bloom.count == 200_000


def test_hashes_of_one_batch_that_share_a_word_all_keep_their_bits() -> None:
    """A batch is scattered into the filter at once: rows falling on the same word (here about twenty per word)
    must not overwrite each other's bits."""
    bloom, one_by_one = BloomFilter(1000), BloomFilter(1000)
    added = _random_hashes(5_000, 4, odd=True)
    bloom.add(added)
    for index in range(len(added)):
        one_by_one.add(added[index : index + 1])
    assert bloom.may_contain(added).all()
    assert np.array_equal(bloom._words, one_by_one._words)


def test_an_empty_filter_contains_nothing() -> None:
    assert not BloomFilter(1000).may_contain(_random_hashes(10_000, 3, odd=True)).any()


def test_identity_hashes_depend_on_both_parts() -> None:
    scopes = pa.chunked_array([pa.array(["e1", "e1", "e2", "e1"])])
    ids = pa.chunked_array([pa.array(["s1", "s2", "s1", "s1"])])
    hashes = identity_hashes(scopes, ids)
    assert hashes.dtype == np.uint64
    assert hashes[0] == hashes[3]
    assert len({int(h) for h in hashes[:3]}) == 3


def _prepared(scopes: list[str], ids: list[str], hashes: list[int]) -> _Prepared:
    table = pa.table({"event_id": scopes, "sale_id": ids})
    array = np.array(hashes, dtype=np.uint64)
    return _Prepared(table, table.column("event_id"), table.column("sale_id"), array, np.sort(array))


def test_hashes_are_sorted_alike_by_either_sorter() -> None:
    for count in (0, 1, SORT_IN_POLARS_FROM - 1, SORT_IN_POLARS_FROM, 100_000):
        hashes = _random_hashes(count, count, odd=True)
        ordered = _sorted(hashes)
        assert ordered.dtype == np.uint64
        assert np.array_equal(ordered, np.sort(hashes))


def test_copies_within_a_batch_are_found_by_identity_not_by_hash_alone() -> None:
    # Rows 0 and 1 share a hash but not an identity (a collision): both are first of their kind.
    batch = _prepared(["e", "e", "e", "e"], ["a", "b", "a", "c"], [7, 7, 7, 9])
    assert _first_occurrences(batch).tolist() == [True, True, False, True]


def test_two_batches_know_which_hashes_they_share_and_where() -> None:
    batch = _prepared(["e", "e", "e"], ["a", "b", "c"], [5, 3, 8])
    other = _prepared(["e", "e", "e", "e"], ["x", "y", "z", "w"], [6, 3, 9, 5])
    shared = batch.shared_hashes(other)
    assert shared.tolist() == [3, 5]
    assert other.shared_hashes(batch).tolist() == [3, 5]
    assert batch.rows_with(shared).tolist() == [0, 1]
    assert other.rows_with(shared).tolist() == [1, 3]
    assert not len(batch.shared_hashes(_prepared(["e"], ["q"], [1])))
    assert not len(batch.shared_hashes(_prepared([], [], [])))


def test_committed_identities_cross_the_bus_unchanged() -> None:
    hashes = _random_hashes(1000, 4, odd=True)
    message = sharing.encode(b"worker-a", CommittedBatch("sale", {"e": 1000}, hashes))
    origin, stream, decoded = sharing.decode(message)
    assert (origin, stream) == (b"worker-a", "sale")
    assert np.array_equal(decoded, hashes)


def test_an_outgrown_filter_stays_in_use_while_a_larger_one_loads() -> None:
    loads: list[int] = []

    def unreachable() -> Client:
        loads.append(1)
        return clickhouse_connect.get_client(host="127.0.0.1", port=free_port())  # nothing listens there

    seen = SeenIds("sales", "sale_id", unreachable)
    seen._filter = BloomFilter(1000)
    seen._ready = True  # as after a first load
    hashes = _random_hashes(1500, 5, odd=True)
    seen.add(hashes)  # past capacity: a reload starts (and fails: the warehouse is away)
    deadline = time.monotonic() + 10
    while not loads and time.monotonic() < deadline:
        time.sleep(0.01)
    assert loads == [1]
    assert seen.ready and seen.may_contain(hashes).all(), "the old filter still answers, and never misses"
    seen.add(_random_hashes(10, 6, odd=True))
    time.sleep(0.1)
    assert loads == [1], "after a failed reload, the next waits a while"
