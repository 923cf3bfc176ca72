"""Just enough reading of SQL text for the HTTP front: linear scans only, never a backtracking regex.

A backtracking regex on dbt's SQL once froze a whole server (ARCHITECTURE.md), and anything CPU-heavy here
runs on the event loop, so every helper walks the text at most a few times.
"""

from __future__ import annotations

from dataclasses import dataclass


def strip_leading_comments(sql: str) -> str:
    """The statement without leading whitespace, `/* ... */` and `-- ...` comments."""
    pos = 0
    size = len(sql)
    while pos < size:
        while pos < size and sql[pos].isspace():
            pos += 1
        if sql.startswith("/*", pos):
            end = sql.find("*/", pos + 2)
            if end < 0:
                return ""
            pos = end + 2
        elif sql.startswith("--", pos) or sql.startswith("#!", pos):
            end = sql.find("\n", pos)
            if end < 0:
                return ""
            pos = end + 1
        else:
            break
    return sql[pos:]


def first_keyword(sql: str) -> str:
    """The statement's first word in upper case (`SELECT`, `INSERT`, `SET`, ...)."""
    body = strip_leading_comments(sql)
    end = 0
    while end < len(body) and (body[end].isalnum() or body[end] == "_"):
        end += 1
    return body[:end].upper()


def _is_identifier(word: str) -> bool:
    return bool(word) and word.isascii() and word.replace("_", "").isalnum() and not word[0].isdigit()


def trailing_format(sql: str) -> tuple[str, str] | None:
    """(statement without its clause, format) when the text ends in `FORMAT <name>`, else None."""
    text = sql.rstrip().rstrip(";")
    parts = text.rsplit(None, 1)
    if len(parts) != 2 or not _is_identifier(parts[1]):
        return None
    head = parts[0].rstrip()
    if len(head) < 7 or head[-6:].upper() != "FORMAT" or not head[-7].isspace():
        return None
    return head[:-6].rstrip(), parts[1]


def mentions_format(sql: str) -> bool:
    """True when the word FORMAT appears anywhere: the output format may then not be the default."""
    return "FORMAT" in sql.upper()


def quote_literal(value: str) -> str:
    """A ClickHouse string literal for `value`."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def is_setting_name(name: str) -> bool:
    """Setting names are plain identifiers; anything else is refused before it reaches SQL."""
    return _is_identifier(name)


@dataclass(frozen=True, slots=True)
class InlineInsert:
    """An `INSERT ... FORMAT X` at the head of a body, with its rows from `data_offset` on."""

    statement: str
    data_format: str
    data_offset: int


def insert_with_body_data(sql: str) -> InlineInsert | None:
    """Recognise an INSERT whose rows are the whole request body (the query text ends in FORMAT X)."""
    if first_keyword(sql) != "INSERT":
        return None
    found = trailing_format(sql)
    if found is None:
        return None
    statement, data_format = found
    return InlineInsert(statement=statement, data_format=data_format, data_offset=0)


HEAD_SCAN_LIMIT = 1 << 20  # an INSERT's text before its data is never this long


def _skip_quoted(text: str, pos: int) -> int:
    """Position after the quoted token that starts at `pos` (', " or `), or -1 if it does not end."""
    quote = text[pos]
    pos += 1
    while pos < len(text):
        char = text[pos]
        if char == "\\":
            pos += 2
            continue
        if char == quote:
            if text.startswith(quote, pos + 1):  # a doubled quote is an escaped one
                pos += 2
                continue
            return pos + 1
        pos += 1
    return -1


def code_words(sql: str) -> list[str]:
    """The statement's words in upper case, outside its quoted texts and names and its comments (each of those
    ends a word): for finding clauses the way the engine's lexer would, which a comment between two words of a
    clause or a quoted `ASYNC` cannot fool. An unterminated quote or comment ends the text."""
    words: list[str] = []
    word: list[str] = []
    pos, size = 0, len(sql)
    while pos < size:
        char = sql[pos]
        skip_to = pos + 1
        if char in "'\"`":
            end = _skip_quoted(sql, pos)
            skip_to = end if end >= 0 else size
        elif sql.startswith("/*", pos):
            # The engine ends a nested comment later, never sooner: at worst comment is read as words here, never
            # words as comment.
            end = sql.find("*/", pos + 2)
            skip_to = end + 2 if end >= 0 else size
        elif sql.startswith("--", pos) or char == "#":
            end = sql.find("\n", pos)
            skip_to = end + 1 if end >= 0 else size
        elif char.isalnum() or char == "_":
            word.append(char)
            pos += 1
            continue
        if word:
            words.append("".join(word).upper())
            word = []
        pos = skip_to
    if word:
        words.append("".join(word).upper())
    return words


def has_clause(words: list[str], *clause: str) -> bool:
    """Whether `clause` (upper-case words) appears, in a row, among `words`."""
    width = len(clause)
    return any(words[i : i + width] == list(clause) for i in range(len(words) - width + 1))


def find_inline_insert(head: bytes, *, complete: bool) -> InlineInsert | bool | None:
    """Split a body that starts with `INSERT ... FORMAT X` into the statement and its data.

    Returns the split, None when the body is a statement of its own (no inline data of a FORMAT), or True
    when more of the body is needed to tell. One linear pass per call over at most HEAD_SCAN_LIMIT bytes.
    """
    text = head[:HEAD_SCAN_LIMIT].decode("latin-1")  # byte offsets stay character offsets
    if first_keyword(text[:4096]) not in ("INSERT", ""):
        return None
    start = len(text) - len(strip_leading_comments(text))
    if first_keyword(text[start:]) != "INSERT":
        return None if complete or start < len(text) else True
    pos, size = start, len(text)
    while pos < size:
        char = text[pos]
        if char in "'\"`":
            pos = _skip_quoted(text, pos)
            if pos < 0:
                break
            continue
        if text.startswith("--", pos) or text.startswith("/*", pos):
            end = text.find("\n" if char == "-" else "*/", pos + 2)
            if end < 0:
                break
            pos = end + (1 if char == "-" else 2)
            continue
        if char in "fF" and text[pos : pos + 6].upper() == "FORMAT" and text[pos - 1].isspace():
            found = _format_clause(text, pos, complete=complete)
            if found is not None:
                return found
        pos += 1
    if complete or len(head) >= HEAD_SCAN_LIMIT:
        return None
    return True


def _format_clause(text: str, pos: int, *, complete: bool) -> InlineInsert | None:
    """`FORMAT name` at `pos`: the data begins after the name, its blanks and one newline."""
    name_start = pos + 6
    if name_start >= len(text) or not text[name_start].isspace():
        return None
    while name_start < len(text) and text[name_start] in " \t\r\n":
        name_start += 1
    name_end = name_start
    while name_end < len(text) and (text[name_end].isalnum() or text[name_end] == "_"):
        name_end += 1
    name = text[name_start:name_end]
    if not _is_identifier(name) or (name_end == len(text) and not complete):
        return None
    data = name_end
    while data < len(text) and text[data] in " \t\r":
        data += 1
    if data < len(text) and text[data] == "\n":
        data += 1
    statement = text[:pos].encode("latin-1").decode("utf-8").rstrip()
    return InlineInsert(statement=statement, data_format=name, data_offset=data)
