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


def test_values_every_event_allows_settle_it_and_the_others_are_paired() -> None:
    table = pa.table({"event_id": ["a", "b", "b"], "tier": ["GA", "GA", "VIP"]})
    both = frozenset({"GA", "VIP"})
    assert _pairs_known(table, "tier", {"a": both, "b": both})
    assert _pairs_known(table, "tier", {"a": frozenset({"GA"}), "b": both}), "VIP only where it is allowed"
    assert not _pairs_known(table, "tier", {"a": both, "b": frozenset({"GA"})})
    assert _pairs_known(table.slice(0, 0), "tier", {})
