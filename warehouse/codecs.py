"""Content-Encoding of request bodies (lz4 frame, zstd, gzip, deflate) and of responses, and inside it
ClickHouse's own compressed blocks where `decompress=1` / `compress=1` ask for them (native_blocks.py).

Every decoder accepts several concatenated frames or members, since clients such as clickhouse-connect
compress each block of an insert on its own. All of it runs in worker threads, never on the event loop.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Protocol

import lz4.frame
import zstandard

from warehouse import native_blocks
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
    """Turns the chunks of a (possibly compressed) request body into plain bytes: its Content-Encoding undone,
    then, with `native`, ClickHouse's compressed blocks."""

    def __init__(self, content_encoding: str, *, native: bool = False) -> None:
        encoding = content_encoding.strip().lower()
        if encoding in ("", "identity", "none"):
            self._factory: Callable[[], _FrameDecoder] | None = None
        elif encoding in _DECODERS:
            self._factory = _DECODERS[encoding]
        else:
            raise WarehouseError(UNKNOWN_COMPRESSION_METHOD, f"Unknown Content-Encoding {content_encoding!r}")
        self._encoding = encoding
        self._decoder = self._factory() if self._factory else None
        self._blocks = native_blocks.BlockReader() if native else None

    @property
    def is_identity(self) -> bool:
        """The body is sent as is: decoding is a no-op."""
        return self._factory is None and self._blocks is None

    def decode(self, data: bytes) -> bytes:
        data = self._undo_content_encoding(data)
        return self._blocks.decode(data) if self._blocks is not None else data

    def finish(self) -> None:
        """The body has ended; raises if it ended inside a compressed block."""
        if self._blocks is not None:
            self._blocks.finish()

    def _undo_content_encoding(self, data: bytes) -> bytes:
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
    """Compresses a streamed response body chunk by chunk: with `native`, each chunk into ClickHouse's compressed
    blocks; then with the Content-Encoding `encoding`."""

    def __init__(self, encoding: str | None, *, native: bool = False) -> None:
        self._native = native
        self._compressor = _COMPRESSORS[encoding]() if encoding else None

    @property
    def is_identity(self) -> bool:
        """The body goes as it is: encoding is a no-op."""
        return self._compressor is None and not self._native

    def encode(self, data: bytes) -> bytes:
        if self._native:
            data = native_blocks.compress(data)
        return self._compressor.compress(data) if self._compressor else data

    def finish(self) -> bytes:
        return self._compressor.flush() if self._compressor else b""
