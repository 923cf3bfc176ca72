"""Which body a request's Content-Type announces: JSON, NDJSON, an Arrow IPC stream or file, or Parquet.

Anything else (CSV, XML, a form's multipart body) is a 415 naming what is taken: it was read as JSON and refused
as "not valid JSON (byte 0)", which sent its sender looking for a fault in their JSON. JSON is also read from a
request naming no type, a `+json` type, `text/plain` (what a browser's `fetch` sends with a string body) and
`application/x-www-form-urlencoded` (what `curl -d` sends unless told otherwise).
"""

from __future__ import annotations

JSON = "application/json"
NDJSON = "application/x-ndjson"
ARROW = "application/vnd.apache.arrow.stream"  # a stream or a file: told apart by the body (table_body.py)
PARQUET = "application/vnd.apache.parquet"

_CANONICAL = {
    "": JSON, JSON: JSON, "text/json": JSON, "text/plain": JSON, "application/x-www-form-urlencoded": JSON,
    NDJSON: NDJSON, "application/ndjson": NDJSON, "application/jsonl": NDJSON, "application/x-jsonl": NDJSON,
    "application/jsonlines": NDJSON, "application/x-jsonlines": NDJSON,
    ARROW: ARROW, "application/vnd.apache.arrow.file": ARROW,
    PARQUET: PARQUET, "application/x-parquet": PARQUET, "application/parquet": PARQUET,
}  # fmt: skip
TAKEN = (
    "JSON (application/json), NDJSON (application/x-ndjson), an Arrow IPC stream or file "
    "(application/vnd.apache.arrow.stream or .file) or Parquet (application/vnd.apache.parquet)"
)


class UnsupportedMediaType(Exception):
    """A Content-Type whose bodies this API does not read: 415."""


def canonical_media_type(content_type: str) -> str:
    """The media type of the body kind `content_type` announces (its parameters, such as a charset, aside), in the
    one spelling the rest of ingest knows; UnsupportedMediaType for any other."""
    media_type = content_type.partition(";")[0].strip().lower()
    canonical = _CANONICAL.get(media_type)
    if canonical is None and media_type.endswith("+json"):
        canonical = JSON
    if canonical is None:
        raise UnsupportedMediaType(f"Content-Type {media_type!r} is not taken: send {TAKEN}; nothing was written")
    return canonical
