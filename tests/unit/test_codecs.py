"""Request and response encodings, frame by frame."""

from __future__ import annotations

import gzip
import zlib

import lz4.frame
import pytest
import zstandard

from warehouse.codecs import BodyDecoder, ResponseEncoder, choose_response_encoding
from warehouse.errors import CANNOT_DECOMPRESS, UNKNOWN_COMPRESSION_METHOD, WarehouseError

DATA = b"".join(b"%d,row %d\n" % (i, i) for i in range(20_000))
COMPRESS = {
    "lz4": lz4.frame.compress,
    "zstd": zstandard.ZstdCompressor().compress,
    "gzip": gzip.compress,
    "deflate": zlib.compress,
}


@pytest.mark.parametrize("encoding", sorted(COMPRESS))
def test_several_frames_in_arbitrary_chunks(encoding: str) -> None:
    compress = COMPRESS[encoding]
    body = compress(DATA[:70_000]) + compress(DATA[70_000:])
    decoder = BodyDecoder(encoding)
    out = b"".join(decoder.decode(body[i : i + 777]) for i in range(0, len(body), 777))
    assert out == DATA


def test_identity_and_unknown_encodings() -> None:
    assert BodyDecoder("").decode(b"abc") == b"abc"
    with pytest.raises(WarehouseError) as raised:
        BodyDecoder("br")
    assert raised.value.code == UNKNOWN_COMPRESSION_METHOD
    assert raised.value.http_status == 400


def test_corrupt_body_is_a_clear_error() -> None:
    with pytest.raises(WarehouseError) as raised:
        BodyDecoder("gzip").decode(b"\x1f\x8b\x08\x00garbage-garbage")
    assert raised.value.code == CANNOT_DECOMPRESS


@pytest.mark.parametrize("encoding", ["zstd", "lz4", "gzip", "deflate"])
def test_response_encoding_round_trips(encoding: str) -> None:
    encoder = ResponseEncoder(encoding)
    body = encoder.encode(DATA[:1000]) + encoder.encode(DATA[1000:]) + encoder.finish()
    assert BodyDecoder(encoding).decode(body) == DATA


def test_choose_response_encoding_follows_the_clients_order() -> None:
    assert choose_response_encoding("br, lz4;q=1, gzip") == "lz4"
    assert choose_response_encoding("identity") is None
