"""`tickettoken load`'s reading of files into bodies, and its client's patience with a busy service."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from api.ingest.streams import STREAMS
from tickettoken.cli import INGEST_STREAMS
from tickettoken.file_loader import Chunk, UnreadableFile, chunks, file_format, record_count
from tickettoken.ingest_client import MAX_WAIT_SECONDS, Refused, post_body


def _numbers(path: Path, fmt: str, rows: int) -> list[list[int]]:
    return [list(chunk.numbers) for chunk in chunks(path, fmt, rows)]


def test_the_commands_streams_are_the_apis() -> None:
    assert set(INGEST_STREAMS) == set(STREAMS)


def test_tables_are_regrouped_into_bodies_of_the_rows_asked(tmp_path: Path) -> None:
    table = pa.table({"n": list(range(10))})
    pq.write_table(table, tmp_path / "t.parquet", row_group_size=3)
    with pa.ipc.new_file(tmp_path / "t.arrow", table.schema) as writer:
        writer.write_table(table, max_chunksize=3)
    with pa.ipc.new_stream(tmp_path / "t.arrows", table.schema) as writer:
        writer.write_table(table, max_chunksize=7)
    for name in ("t.parquet", "t.arrow", "t.arrows"):
        fmt = file_format(tmp_path / name, None)
        found = list(chunks(tmp_path / name, fmt, 4))
        assert [c.records.column("n").to_pylist() for c in found if isinstance(c.records, pa.Table)] == [
            [0, 1, 2, 3], [4, 5, 6, 7], [8, 9],
        ], name  # fmt: skip
        assert [list(c.numbers) for c in found] == [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10]]
    assert record_count(tmp_path / "t.parquet", "parquet") == 10
    assert record_count(tmp_path / "t.arrow", "arrow") == 10
    assert record_count(tmp_path / "t.arrows", "arrow") is None  # a stream says only as it is read


def test_json_records_keep_their_lines_and_their_text(tmp_path: Path) -> None:
    ndjson = tmp_path / "r.ndjson"
    ndjson.write_bytes(b'\xef\xbb\xbf{"a": 1}\n\n  {"a": 2}\r\n{"a": 3}\n{"a": 4}')
    assert _numbers(ndjson, "ndjson", 2) == [[1, 3], [4, 5]]
    body, content_type = next(chunks(ndjson, "ndjson", 2)).body()
    assert (json.loads(body), content_type) == ([{"a": 1}, {"a": 2}], "application/json")
    array = tmp_path / "r.json"
    array.write_text(json.dumps([{"a": n} for n in range(5)]))
    assert _numbers(array, "json", 2) == [[1, 2], [3, 4], [5]]
    single = tmp_path / "one.json"
    single.write_text('{"a": [1, 2]}')
    assert [c.body()[0] for c in chunks(single, "json", 10)] == [b'[{"a": [1, 2]}]']


def test_a_json_body_is_also_cut_by_its_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tickettoken.file_loader.JSON_BODY_BYTES", 25)
    ndjson = tmp_path / "r.ndjson"
    ndjson.write_text("".join(json.dumps({"text": "x" * 5}) + "\n" for _ in range(5)))  # 17 bytes each
    assert _numbers(ndjson, "ndjson", 100) == [[1], [2], [3], [4], [5]]


def test_what_cannot_be_read_is_named(tmp_path: Path) -> None:
    ndjson = tmp_path / "r.ndjson"
    ndjson.write_text('{"a": 1}\n{"a": \n')
    with pytest.raises(UnreadableFile, match=r"r.ndjson line 2: not JSON \(Input data was truncated\)"):
        list(chunks(ndjson, "ndjson", 10))
    array = tmp_path / "r.json"
    array.write_text('[{"a": 1}, {"a" 2}]')
    with pytest.raises(UnreadableFile, match=r"r.json: not JSON \(JSON is malformed: expected ':' \(byte 16\)\)"):
        list(chunks(array, "json", 10))
    broken = tmp_path / "r.parquet"
    broken.write_text("not parquet")
    with pytest.raises(UnreadableFile, match="not a readable Parquet file"):
        record_count(broken, "parquet")
    damaged = tmp_path / "d.parquet"  # a good footer, a page further in zeroed
    pq.write_table(pa.table({"s": [str(n) * 3 for n in range(200_000)]}), damaged, row_group_size=50_000)
    data = bytearray(damaged.read_bytes())
    data[len(data) * 3 // 4 : len(data) * 3 // 4 + 2000] = bytes(2000)
    damaged.write_bytes(bytes(data))
    with pytest.raises(UnreadableFile, match=r"d\.parquet: a part of this Parquet file cannot be read"):
        list(chunks(damaged, "parquet", 50_000))
    with pytest.raises(ValueError, match=r"cannot tell its format from '.csv': give --format"):
        file_format(tmp_path / "r.csv", None)
    assert file_format(tmp_path / "r.csv", "ndjson") == "ndjson"


def test_halves_keep_their_places(tmp_path: Path) -> None:
    table = Chunk(tmp_path / "t.parquet", pa.table({"n": [1, 2, 3, 4, 5]}), range(11, 16))
    first, second = table.halves()
    assert (first.size, list(second.numbers), second.where(0)) == (2, [13, 14, 15], "t.parquet record 13")
    text = Chunk(tmp_path / "t.txt", [b"1", b"2", b"3"], [2, 4, 6], "line")
    first, second = text.halves()
    assert (first.records, second.records, second.where(1)) == ([b"1"], [b"2", b"3"], "t.txt line 6")


def _client(answers: list[httpx.Response | Exception], sent: list[httpx.Request]) -> httpx.Client:
    def handle(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return httpx.Client(base_url="http://api", transport=httpx.MockTransport(handle))


def test_busy_answers_and_dropped_connections_are_tried_again_after_their_wait() -> None:
    sent: list[httpx.Request] = []
    waits: list[float] = []
    ok = {"accepted": 2, "duplicates": 1, "rejected": 0, "errors": [], "quarantined": 0, "quarantine_id": None}
    answers: list[httpx.Response | Exception] = [
        httpx.Response(429, headers={"Retry-After": "2"}, json={"detail": "too busy"}),
        httpx.Response(503, headers={"Retry-After": "60"}, json={"detail": "warehouse down"}),
        httpx.ConnectError("refused"),
        httpx.Response(200, json=ok),
    ]
    answer = post_body(_client(answers, sent), "sale", b"[]", "application/json", partial=True, sleep=waits.append)
    assert (answer.accepted, answer.duplicates, answer.rejected) == (2, 1, 0)
    assert waits == [2.0, MAX_WAIT_SECONDS, 0.25 * 2**2]
    assert [str(request.url) for request in sent] == ["http://api/api/ingest/sale?partial=true"] * 4


def test_other_refusals_are_raised_with_the_services_answer() -> None:
    sent: list[httpx.Request] = []
    refused = {"detail": "1 invalid record(s)", "errors": [{"index": 0, "field": "quantity", "message": "bad"}]}
    answers: list[httpx.Response | Exception] = [
        httpx.Response(422, json=refused),
        httpx.Response(502, text="<html>bad gateway</html>"),
        httpx.Response(200, text="<html>a login page</html>"),
    ]
    client = _client(answers, sent)
    with pytest.raises(Refused) as invalid:
        post_body(client, "sale", b"[]", "application/json", sleep=lambda _: None)
    assert (invalid.value.status, invalid.value.answer) == (422, refused)
    assert str(invalid.value) == "422: 1 invalid record(s)"
    with pytest.raises(Refused, match=r"502: <html>bad gateway</html>"):
        post_body(client, "sale", b"[]", "application/json", sleep=lambda _: None)
    with pytest.raises(Refused, match=r"200: <html>a login page</html>"):
        post_body(client, "sale", b"[]", "application/json", sleep=lambda _: None)
    assert len(sent) == 3


def test_gzipped_json_is_read_as_it_unpacks(tmp_path: Path) -> None:
    lines = tmp_path / "r.ndjson.gz"
    lines.write_bytes(gzip.compress(b'{"a": 1}\n\n{"a": 2}\n{"a": 3}\n'))
    assert file_format(lines, None) == "ndjson"
    assert _numbers(lines, "ndjson", 2) == [[1, 3], [4]]
    array = tmp_path / "r.json.gz"
    array.write_bytes(gzip.compress(b'[{"a": 1}, {"a": 2}]'))
    assert [c.body()[0] for c in chunks(array, file_format(array, None), 10)] == [b'[{"a": 1},{"a": 2}]']
    array.write_bytes(gzip.compress(b'[{"a": 1}]')[:-6])
    with pytest.raises(UnreadableFile, match=r"r.json.gz: not a readable gzip file \(Compressed file ended"):
        list(chunks(array, "json", 10))
    with pytest.raises(ValueError, match=r"only JSON and NDJSON files are read gzipped \(parquet compresses itself\)"):
        file_format(tmp_path / "r.parquet.gz", None)


def test_an_ndjson_files_lines_are_counted_for_its_bar(tmp_path: Path) -> None:
    lines = tmp_path / "r.ndjson"
    for text, count in (("", 0), ('{"a": 1}', 1), ('{"a": 1}\n{"a": 2}\n', 2), ('{"a": 1}\n\n{"a": 2}', 3)):
        lines.write_text(text)
        assert record_count(lines, "ndjson") == count, text
