"""Reading SQL text in the HTTP front: linear scans with exact answers."""

from __future__ import annotations

import time

import pytest

from warehouse.sql_text import (
    InlineInsert,
    code_words,
    find_inline_insert,
    first_keyword,
    has_clause,
    insert_with_body_data,
    quote_literal,
    strip_leading_comments,
    trailing_format,
)


def test_leading_comments_and_keywords() -> None:
    sql = '/* {"app": "dbt", "node_id": "model.x"} */\n-- note\n  select 1'
    assert strip_leading_comments(sql) == "select 1"
    assert first_keyword(sql) == "SELECT"
    assert first_keyword("(SELECT 1)") == ""
    assert first_keyword("/* never closed") == ""


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT 1 FORMAT JSON", ("SELECT 1", "JSON")),
        ("SELECT 1\nFORMAT\tTabSeparatedWithNames;", ("SELECT 1", "TabSeparatedWithNames")),
        ("INSERT INTO t (a) FORMAT Native", ("INSERT INTO t (a)", "Native")),
        ("SELECT format FROM t", None),
        ("SELECT 'FORMAT' JSON", None),
        ("SELECT 1 FORMAT 9x", None),
    ],
)
def test_trailing_format(sql: str, expected: tuple[str, str] | None) -> None:
    assert trailing_format(sql) == expected


def test_insert_with_body_data_only_for_insert_format() -> None:
    assert insert_with_body_data("INSERT INTO t FORMAT CSV") == InlineInsert("INSERT INTO t", "CSV", 0)
    assert insert_with_body_data("SELECT 1 FORMAT CSV") is None
    assert insert_with_body_data("INSERT INTO t VALUES") is None


def test_inline_insert_split_keeps_binary_data_intact() -> None:
    # A Native block of 9 columns starts with 0x09 (a tab) and of 10 with 0x0A: only one newline is skipped.
    body = b"INSERT INTO t (a, b) FORMAT Native\n\n\x09rest"
    found = find_inline_insert(body, complete=True)
    assert isinstance(found, InlineInsert)
    assert found.statement == "INSERT INTO t (a, b)"
    assert body[found.data_offset :] == b"\n\x09rest"


def test_inline_insert_with_data_on_the_same_line_and_quoted_names() -> None:
    body = b"/* c */ insert into `format` (`format`, x) settings a='FORMAT b' format CSV 1,2\n"
    found = find_inline_insert(body, complete=True)
    offset = body.index(b"1,2")
    assert found == InlineInsert("/* c */ insert into `format` (`format`, x) settings a='FORMAT b'", "CSV", offset)


def test_inline_insert_asks_for_more_until_it_can_tell() -> None:
    assert find_inline_insert(b"INSERT INTO t FORMAT Nat", complete=False) is True
    assert find_inline_insert(b"  ", complete=False) is True
    assert find_inline_insert(b"INSERT INTO t VALUES ('FORMAT x')", complete=True) is None
    assert find_inline_insert(b"SELECT 1 FORMAT JSON", complete=False) is None


def test_scanning_a_pathological_head_is_linear() -> None:
    body = b"INSERT INTO t VALUES " + b"('" + b"\\'" * 400_000 + b"')"
    started = time.perf_counter()
    assert find_inline_insert(body, complete=True) is None
    assert time.perf_counter() - started < 2.0


def test_quote_literal_escapes_quotes_and_backslashes() -> None:
    assert quote_literal("it's a \\ test") == "'it\\'s a \\\\ test'"


@pytest.mark.parametrize(
    ("sql", "words", "clause"),
    [
        ("select 1 into outfile 'f'", ["SELECT", "1", "INTO", "OUTFILE"], True),
        ("SELECT 1 INTO/**/OUTFILE 'f'", ["SELECT", "1", "INTO", "OUTFILE"], True),
        ("SELECT 1 INTO -- a line\n OUTFILE 'f'", ["SELECT", "1", "INTO", "OUTFILE"], True),
        ("SELECT 'it''s INTO OUTFILE', `INTO OUTFILE`", ["SELECT"], False),
        ("SELECT 1 -- it's\nINTO OUTFILE 'f'", ["SELECT", "1", "INTO", "OUTFILE"], True),  # no quote in a comment
        ('SELECT "a\\" INTO OUTFILE" INTO OUTFILE \'f\'', ["SELECT", "INTO", "OUTFILE"], True),
        ("SELECT 1 AS into_outfile", ["SELECT", "1", "AS", "INTO_OUTFILE"], False),
        ("SELECT 'unterminated INTO OUTFILE", ["SELECT"], False),
    ],
)
def test_code_words_skip_texts_names_and_comments(sql: str, words: list[str], clause: bool) -> None:
    assert code_words(sql) == words
    assert has_clause(code_words(sql), "INTO", "OUTFILE") is clause
