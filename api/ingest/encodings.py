"""Compressed request bodies (`Content-Encoding: gzip` or `deflate`), as HTTP clients send large batches:
unpacked before anything else, with the body limit applied to what they unpack to (a few kilobytes of gzip can
unpack to gigabytes)."""

from __future__ import annotations

import zlib

_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


class UnsupportedEncoding(Exception):
    """A Content-Encoding this API does not unpack: 415."""


class BadEncoding(Exception):
    """The body is not what its Content-Encoding says: 400."""


class UnpacksTooLarge(Exception):
    """The body unpacks to more than the body limit: 413."""


def unpacked(body: bytes, content_encoding: str, limit: int) -> bytes:
    """`body` with the encodings its Content-Encoding header lists undone, the last applied first."""
    for name in reversed([part.strip().lower() for part in content_encoding.split(",") if part.strip()]):
        if name == "identity":
            continue
        wbits = _WBITS.get(name)
        if wbits is None:
            raise UnsupportedEncoding(f"Content-Encoding {name!r} is not supported: send gzip, deflate or none")
        body = _inflated(body, wbits, name, limit)
    return body


def _inflated(data: bytes, wbits: int, name: str, limit: int) -> bytes:
    out = bytearray()
    while data:  # a gzip body may hold several members, one after another
        inflater = zlib.decompressobj(wbits)
        try:
            out += inflater.decompress(data, limit + 1 - len(out))
        except zlib.error as error:
            raise BadEncoding(f"the body is not valid {name}: {error}") from None
        if len(out) > limit:
            raise UnpacksTooLarge(f"the body unpacks to more than {limit} bytes")
        if not inflater.eof:
            raise BadEncoding(f"the body is not valid {name}: it ends early")
        data = inflater.unused_data
    return bytes(out)
