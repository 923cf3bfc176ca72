"""Content-Encoding of request bodies (lz4 frame, zstd, gzip, deflate) and of responses.

Every decoder accepts several concatenated frames or members, since clients such as clickhouse-connect
compress each block of an insert on its own. All of it runs in worker threads, never on the event loop.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Protocol

import lz4.frame
import zstandard

from warehouse.errors import CANNOT_DECOMPRESS, UNKNOWN_COMPRESSION_METHOD, WarehouseError


class _FrameDecoder(Protocol):
    """The part of the stdlib/lz4/zstd decompressor objects this module uses."""

    @property
    def eof(self) -> bool: ...

    @property
    def unused_data(self) -> bytes: ...

    def decompress(self, data: bytes) -> bytes: ...


def _zlib(wbits: int) -> Callable[[], _FrameDecoder]:
    return lambda: zlib.decompressobj(wbits)


_DECODERS: dict[str, Callable[[], _FrameDecoder]] = {
    "lz4": lz4.frame.LZ4FrameDecompressor,
    "zstd": lambda: zstandard.ZstdDecompressor().decompressobj(),
    "gzip": _zlib(16 + zlib.MAX_WBITS),
    "x-gzip": _zlib(16 + zlib.MAX_WBITS),
    "deflate": _zlib(zlib.MAX_WBITS),
}


class BodyDecoder:
    """Turns the chunks of a (possibly compressed) request body into plain bytes."""

    def __init__(self, content_encoding: str) -> None:
        encoding = content_encoding.strip().lower()
        if encoding in ("", "identity", "none"):
            self._factory: Callable[[], _FrameDecoder] | None = None
        elif encoding in _DECODERS:
            self._factory = _DECODERS[encoding]
        else:
            raise WarehouseError(UNKNOWN_COMPRESSION_METHOD, f"Unknown Content-Encoding {content_encoding!r}")
        self._encoding = encoding
        self._decoder = self._factory() if self._factory else None

    @property
    def is_identity(self) -> bool:
        """The body is sent as is: decoding is a no-op."""
        return self._factory is None

    def decode(self, data: bytes) -> bytes:
        if self._decoder is None or self._factory is None:
            return data
        out: list[bytes] = []
        try:
            while data:
                out.append(self._decoder.decompress(data))
                if not self._decoder.eof:
                    break
                data = self._decoder.unused_data
                self._decoder = self._factory()
        except (zlib.error, RuntimeError, zstandard.ZstdError) as error:
            raise WarehouseError(CANNOT_DECOMPRESS, f"Cannot decompress {self._encoding} body: {error}") from None
        return b"".join(out)


class _Compressor(Protocol):
    def compress(self, data: bytes) -> bytes: ...

    def flush(self) -> bytes: ...


class _Lz4Compressor:
    """lz4 frame compression with the same compress/flush shape as zlib's."""

    def __init__(self) -> None:
        self._inner = lz4.frame.LZ4FrameCompressor()
        self._started = False

    def compress(self, data: bytes) -> bytes:
        head = b""
        if not self._started:
            head = self._inner.begin()
            self._started = True
        body: bytes = self._inner.compress(data)
        return head + body

    def flush(self) -> bytes:
        head = b"" if self._started else self._inner.begin()
        self._started = True
        tail: bytes = self._inner.flush()
        return head + tail


class _ZstdCompressor:
    def __init__(self) -> None:
        self._inner = zstandard.ZstdCompressor(level=1).compressobj()

    def compress(self, data: bytes) -> bytes:
        return self._inner.compress(data)

    def flush(self) -> bytes:
        return self._inner.flush()


_COMPRESSORS: dict[str, Callable[[], _Compressor]] = {
    "zstd": _ZstdCompressor,
    "lz4": _Lz4Compressor,
    "gzip": lambda: zlib.compressobj(3, zlib.DEFLATED, 16 + zlib.MAX_WBITS),
    "deflate": lambda: zlib.compressobj(3),
}


def choose_response_encoding(accept_encoding: str) -> str | None:
    """The first encoding in the client's Accept-Encoding that this server can produce."""
    for item in accept_encoding.split(","):
        name = item.split(";", 1)[0].strip().lower()
        if name in _COMPRESSORS:
            return name
    return None


class ResponseEncoder:
    """Compresses a streamed response body with one encoding, chunk by chunk."""

    def __init__(self, encoding: str | None) -> None:
        self.encoding = encoding
        self._compressor = _COMPRESSORS[encoding]() if encoding else None

    def encode(self, data: bytes) -> bytes:
        return self._compressor.compress(data) if self._compressor else data

    def finish(self) -> bytes:
        return self._compressor.flush() if self._compressor else b""
