"""Decompression: gzip (multi-member), zstd (multi-frame), none — by media type, checked
by magic, with truncation and corruption reported as FormatError."""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import sys
import zlib

import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from repro.errors import FormatError, ReproError
from repro.oci import compression
from repro.oci.compression import compression_of, decompress, pick_inflater, sniff

DATA = os.urandom(50_000) + b"abc" * 100_000
INFLATERS = ["isal", "zlib"]  # isal is a dependency: its tests run (and fail if it is missing)


@contextlib.contextmanager
def inflater(name: str):
    """Inflate gzip with `name` inside the block (the module picks one at import)."""
    picked, module = pick_inflater(name)
    assert picked == name, f"{name} is not installed"
    saved = compression._inflate, compression._INFLATE_ERRORS
    compression._inflate, compression._INFLATE_ERRORS = module, (zlib.error, module.error)
    try:
        yield
    finally:
        compression._inflate, compression._INFLATE_ERRORS = saved


@pytest.fixture(params=INFLATERS)
def each_inflater(request):
    with inflater(request.param):
        yield request.param


def unpack(blob: bytes, compression: str, read_size: int = 1 << 20) -> bytes:
    stream = decompress(io.BytesIO(blob), compression, "layer 0 of linux/amd64")
    out = []
    while chunk := stream.read(read_size):
        assert len(chunk) <= read_size  # output is bounded per read
        out.append(chunk)
    return b"".join(out)


def test_media_types_choose_compression():
    assert compression_of("application/vnd.oci.image.layer.v1.tar+gzip") == "gzip"
    assert compression_of("application/vnd.docker.image.rootfs.diff.tar.zstd") == "zstd"
    assert compression_of("application/vnd.docker.image.rootfs.diff.tar") == "none"
    assert compression_of("application/vnd.in-toto+json") is None
    assert [sniff(b"\x1f\x8b\x08"), sniff(b"\x28\xb5\x2f\xfd"), sniff(b"ustar")] == ["gzip", "zstd", "none"]


def test_isal_is_the_inflater_unless_zlib_is_forced(monkeypatch):
    assert compression.INFLATER == "isal"
    assert pick_inflater()[0] == "isal"
    assert pick_inflater("zlib") == ("zlib", zlib)
    monkeypatch.setenv("REPRO_INFLATER", "zlib")
    assert pick_inflater() == ("zlib", zlib)


def test_without_the_isal_wheel_zlib_inflates(monkeypatch):
    monkeypatch.setitem(sys.modules, "isal", None)  # import isal now raises ImportError
    assert pick_inflater() == ("zlib", zlib)


def test_gzip_multi_member_and_zero_padding(each_inflater):
    blob = gzip.compress(DATA[:1000]) + gzip.compress(DATA[1000:]) + b"\0" * 100
    assert unpack(blob, "gzip", 4096) == DATA


def test_gzip_trailing_garbage_is_an_error(each_inflater):
    with pytest.raises(FormatError, match="trailing garbage after gzip data"):
        unpack(gzip.compress(b"x") + b"junk", "gzip")


def test_zstd_frames_skippable_frames_and_checksums():
    c = zstandard.ZstdCompressor(write_checksum=True)
    skippable = (0x184D2A50).to_bytes(4, "little") + (5).to_bytes(4, "little") + b"hello"
    blob = c.compress(DATA[:1000]) + skippable + zstandard.ZstdCompressor(write_content_size=False).compress(DATA[1000:])
    assert unpack(blob, "zstd", 65536) == DATA


def test_zstd_bomb_is_read_in_bounded_pieces():
    blob = zstandard.ZstdCompressor().compress(bytes(32 << 20))
    assert len(blob) < 10_000
    stream = decompress(io.BytesIO(blob), "zstd", "x")
    assert len(stream.read(1 << 20)) <= 1 << 20
    total = 1 << 20
    while chunk := stream.read(1 << 20):
        total += len(chunk)
    assert total == 32 << 20


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_every_truncation_is_an_error(compression, each_inflater):
    blob = gzip.compress(DATA[:5000]) if compression == "gzip" else zstandard.ZstdCompressor(write_checksum=True).compress(DATA[:5000])
    for cut in sorted({4, 5, 10, len(blob) // 3, len(blob) // 2, len(blob) - 4, len(blob) - 1}):
        with pytest.raises(FormatError, match=f"layer 0 of linux/amd64: {compression} data truncated|corrupt"):
            unpack(blob[:cut], compression)


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_corruption_is_an_error(compression, each_inflater):
    blob = bytearray(gzip.compress(DATA) if compression == "gzip" else zstandard.ZstdCompressor(write_checksum=True).compress(DATA))
    blob[len(blob) // 2] ^= 0xFF
    blob[-3] ^= 0xFF  # the trailer (CRC / checksum) too
    with pytest.raises(FormatError, match=f"corrupt {compression} data"):
        unpack(bytes(blob), compression)


@pytest.mark.parametrize(
    "blob, said", [(gzip.compress(b"x"), "zstd"), (b"plain tar", "gzip"), (zstandard.ZstdCompressor().compress(b"x"), "none"), (b"", "gzip")]
)
def test_magic_must_match(blob, said):
    with pytest.raises(FormatError, match=f"media type says {said}"):
        unpack(blob, said)


def test_gzip_crc_mismatch_is_corruption(each_inflater):
    blob = bytearray(gzip.compress(DATA))
    blob[-8] ^= 0x01  # CRC32 of the trailer only: the deflate data is intact
    with pytest.raises(FormatError, match="corrupt gzip data"):
        unpack(bytes(blob), "gzip")


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(INFLATERS), st.sampled_from(["gzip", "zstd"]), st.binary(max_size=2000))
def test_random_payload_after_magic_never_raises_anything_else(name, compression, payload):
    magic = b"\x1f\x8b" if compression == "gzip" else b"\x28\xb5\x2f\xfd"
    with inflater(name):
        try:
            unpack(magic + payload, compression)
        except ReproError:
            pass


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=3000), min_size=1, max_size=4), st.integers(1, 5000))
def test_isal_and_zlib_inflate_every_stream_alike(members, read_size):
    blob = b"".join(gzip.compress(m, compresslevel=l) for l, m in zip((1, 6, 9, 0), members))
    outs = []
    for name in INFLATERS:
        with inflater(name):
            outs.append(unpack(blob, "gzip", read_size))
    assert outs == [b"".join(members)] * 2
