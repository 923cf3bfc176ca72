"""The whole-table check that each row's tier or currency is its own event's (api/ingest/services.py)."""

from __future__ import annotations

import pyarrow as pa

from api.ingest.services import _pairs_known


def test_each_rows_value_must_be_one_of_its_own_events() -> None:
    table = pa.table({"event_id": ["a", "a", "b"], "currency": ["EUR", "EUR", "USD"]})
    assert _pairs_known(table, "currency", {"a": frozenset({"EUR"}), "b": frozenset({"USD"})})
    assert not _pairs_known(table, "currency", {"a": frozenset({"EUR"}), "b": frozenset({"EUR"})})
    assert not _pairs_known(table, "currency", {"a": frozenset({"USD"}), "b": frozenset({"EUR", "USD"})})
    one_event = table.slice(0, 2)  # checked without building pairs
    assert _pairs_known(one_event, "currency", {"a": frozenset({"EUR", "GBP"})})
    assert not _pairs_known(one_event, "currency", {"a": frozenset({"GBP"})})
    assert not _pairs_known(one_event, "currency", {"a": frozenset()}), "a currency not fixed yet matches nothing"
