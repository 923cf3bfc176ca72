"""clickhouse-driver's reader and writer of ClickHouse's compressed blocks, which it exchanges with ClickHouse
servers over the native protocol: the yardstick for the warehouse's `compress=1` / `decompress=1`."""

from __future__ import annotations

from io import BytesIO

import zstandard
from clickhouse_cityhash.cityhash import CityHash128  # type: ignore[import-untyped]
from clickhouse_driver.compression import get_decompressor_cls  # type: ignore[import-untyped]
from clickhouse_driver.compression.base import BaseCompressor  # type: ignore[import-untyped]
from clickhouse_driver.compression.lz4 import Compressor as Lz4Compressor  # type: ignore[import-untyped]
from clickhouse_driver.reader import read_binary_uint8, read_binary_uint128  # type: ignore[import-untyped]
from clickhouse_driver.writer import write_binary_uint128  # type: ignore[import-untyped]


class ZstdCompressor(BaseCompressor):  # type: ignore[misc]
    """clickhouse-driver's own needs the `zstd` package; the block around the data is the driver's all the same."""

    method_byte = 0x90

    def compress_data(self, data: bytes) -> bytes:
        return zstandard.ZstdCompressor().compress(data)


def driver_reads(blocks: bytes) -> bytes:
    """clickhouse-driver's reading of a stream of blocks, checksums checked."""
    stream, out = BytesIO(blocks), []
    while stream.tell() < len(blocks):
        checksum = read_binary_uint128(stream)
        method = read_binary_uint8(stream)
        out.append(get_decompressor_cls(method)(stream).get_decompressed_data(method, checksum, 1))
    return b"".join(out)


def driver_writes(data: bytes, compressor: type = Lz4Compressor) -> bytes:
    """`data` as one block, as clickhouse-driver writes it."""
    writer = compressor()
    writer.write(data)
    block = bytes([writer.method_byte]) + writer.get_compressed_data(1)
    checksum = BytesIO()
    write_binary_uint128(CityHash128(block), checksum)
    return checksum.getvalue() + bytes(block)
