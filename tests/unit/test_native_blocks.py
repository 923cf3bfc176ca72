"""ClickHouse's compressed blocks (`compress=1` / `decompress=1`), checked against clickhouse-driver's reader and
writer of the same blocks, which talk to ClickHouse servers over its native protocol."""

from __future__ import annotations

import os
from io import BytesIO

import pytest
from clickhouse_cityhash.cityhash import CityHash128  # type: ignore[import-untyped]
from clickhouse_driver.compression.lz4 import Compressor as Lz4Compressor  # type: ignore[import-untyped]
from clickhouse_driver.writer import write_binary_uint128  # type: ignore[import-untyped]

from tests.native_compression import ZstdCompressor, driver_reads, driver_writes
from warehouse import native_blocks
from warehouse.errors import CANNOT_DECOMPRESS, CHECKSUM_DOESNT_MATCH, UNKNOWN_COMPRESSION_METHOD, WarehouseError

DATA = b"".join(f"{n}\tevt-{n % 97}\t{n * 0.25}\n".encode() for n in range(120_000)) + os.urandom(70_000)


def test_blocks_are_what_clickhouse_clients_read() -> None:
    blocks = native_blocks.compress(DATA)
    assert len(DATA) > 2 * native_blocks.BLOCK_BYTES  # so that several blocks are made
    assert driver_reads(blocks) == DATA
    assert native_blocks.compress(b"") == b""


@pytest.mark.parametrize("compressor", [Lz4Compressor, ZstdCompressor])
def test_blocks_clickhouse_clients_write_are_read_in_pieces_cut_anywhere(compressor: type) -> None:
    parts = [DATA[:1000], DATA[1000:900_000], DATA[900_000:]]
    body = b"".join(driver_writes(part, compressor) for part in parts)
    for cut in (1, 7, 25, 4096, 65_537):
        whole = body if cut > 1 else driver_writes(DATA[:3000], compressor)  # byte by byte: a short body
        reader = native_blocks.BlockReader()
        plain = b"".join(reader.decode(whole[at : at + cut]) for at in range(0, len(whole), cut))
        reader.finish()
        assert plain == (DATA if cut > 1 else DATA[:3000]), cut


def test_a_corrupted_block_is_refused() -> None:
    block = bytearray(driver_writes(DATA[:5000]))
    block[40] ^= 0xFF
    with pytest.raises(WarehouseError) as raised:
        native_blocks.BlockReader().decode(bytes(block))
    assert raised.value.code == CHECKSUM_DOESNT_MATCH


def test_a_body_cut_inside_a_block_is_refused_not_dropped() -> None:
    body = driver_writes(DATA[:5000])
    reader = native_blocks.BlockReader()
    assert reader.decode(body[:-3]) == b""
    with pytest.raises(WarehouseError) as raised:
        reader.finish()
    assert raised.value.code == CANNOT_DECOMPRESS


def test_unknown_methods_and_impossible_sizes_are_refused() -> None:
    block = bytearray(driver_writes(DATA[:5000]))
    block[16] = 0x99  # method byte: the checksum no longer matches either, so mend it
    block[:16] = b"\0" * 16
    write = BytesIO()
    write_binary_uint128(CityHash128(bytes(block[16:])), write)
    block[:16] = write.getvalue()
    with pytest.raises(WarehouseError) as raised:
        native_blocks.BlockReader().decode(bytes(block))
    assert raised.value.code == UNKNOWN_COMPRESSION_METHOD
    with pytest.raises(WarehouseError) as raised:
        native_blocks.BlockReader().decode(b"\0" * 16 + b"\x82" + b"\xff\xff\xff\xff" + b"\0\0\0\0")
    assert raised.value.code == CANNOT_DECOMPRESS
