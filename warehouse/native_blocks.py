"""ClickHouse's own compressed blocks, asked for with the URL parameters `compress=1` (the answer) and
`decompress=1` (the request body) rather than with HTTP's Content-Encoding.

The Java client and its JDBC driver, which SQL IDEs (DBeaver, DataGrip) and many BI tools use, ask for
compressed answers this way by default, and read nothing else. A block is the CityHash128 (v1.0.2) of the rest,
then a method byte, the block's size with its 9-byte header and the data's size (both little-endian 32-bit),
then the compressed data: as ClickHouse's CompressedWriteBuffer writes it, at most 1 MiB of data a block.
"""

from __future__ import annotations

import struct

import lz4.block
import zstandard
from clickhouse_cityhash.cityhash import CityHash128  # type: ignore[import-untyped]  # ships no types

from warehouse.errors import CANNOT_DECOMPRESS, CHECKSUM_DOESNT_MATCH, UNKNOWN_COMPRESSION_METHOD, WarehouseError

LZ4, ZSTD, NONE = 0x82, 0x90, 0x02
BLOCK_BYTES = 1 << 20  # ClickHouse's max_compress_block_size
MAX_BLOCK_BYTES = 1 << 30  # a block that claims more is not one (ClickHouse refuses such sizes too)
_CHECKSUM = struct.Struct("<QQ")
_HEADER = struct.Struct("<BII")  # method, compressed size with this header, data size
_LOW64 = (1 << 64) - 1


def _checksum(block: bytes) -> bytes:
    digest: int = CityHash128(block)
    return _CHECKSUM.pack(digest >> 64, digest & _LOW64)


def compress(data: bytes) -> bytes:
    """`data` as LZ4 blocks of at most BLOCK_BYTES each (none for no data)."""
    out: list[bytes] = []
    for start in range(0, len(data), BLOCK_BYTES):
        piece = data[start : start + BLOCK_BYTES]
        packed = lz4.block.compress(piece, store_size=False)
        block = _HEADER.pack(LZ4, _HEADER.size + len(packed), len(piece)) + packed
        out.append(_checksum(block) + block)
    return b"".join(out)


class BlockReader:
    """Turns a body of compressed blocks, arriving in pieces cut anywhere, into the plain bytes."""

    def __init__(self) -> None:
        self._pending = bytearray()  # the start of a block whose end has not arrived

    def decode(self, data: bytes) -> bytes:
        self._pending += data
        buffer = self._pending
        out: list[bytes] = []
        at = 0
        while len(buffer) - at >= _CHECKSUM.size + _HEADER.size:
            method, size, plain_size = _HEADER.unpack_from(buffer, at + _CHECKSUM.size)
            if not _HEADER.size <= size <= MAX_BLOCK_BYTES or plain_size > MAX_BLOCK_BYTES:
                raise WarehouseError(CANNOT_DECOMPRESS, f"Compressed block of impossible size {size}")
            end = at + _CHECKSUM.size + size
            if end > len(buffer):
                break
            block = bytes(buffer[at + _CHECKSUM.size : end])
            if _checksum(block) != buffer[at : at + _CHECKSUM.size]:
                raise WarehouseError(CHECKSUM_DOESNT_MATCH, "Checksum doesn't match: corrupted data")
            out.append(_unpack(method, block[_HEADER.size :], plain_size))
            at = end
        del buffer[:at]
        return b"".join(out)

    def finish(self) -> None:
        """The body has ended: a block begun and not ended is an error, not data to drop."""
        if self._pending:
            raise WarehouseError(CANNOT_DECOMPRESS, f"Body ends inside a compressed block ({len(self._pending)} bytes)")


def _unpack(method: int, packed: bytes, plain_size: int) -> bytes:
    try:
        if method == LZ4:
            plain: bytes = lz4.block.decompress(packed, uncompressed_size=plain_size)
        elif method == ZSTD:
            plain = zstandard.ZstdDecompressor().decompress(packed, max_output_size=plain_size)
        elif method == NONE:
            plain = packed
        else:
            raise WarehouseError(UNKNOWN_COMPRESSION_METHOD, f"Unknown compression method byte 0x{method:02x}")
    except (lz4.block.LZ4BlockError, zstandard.ZstdError) as error:
        raise WarehouseError(CANNOT_DECOMPRESS, f"Cannot decompress block: {error}") from None
    if len(plain) != plain_size:
        raise WarehouseError(CANNOT_DECOMPRESS, f"Block holds {len(plain)} bytes, its header says {plain_size}")
    return plain
