"""Layer decompression: gzip, zstd or none, chosen by media type and checked by magic.

The media type says how a layer is compressed; the first bytes must agree, since a
mislabelled layer would otherwise decompress to garbage (or pass through compressed)
and surface as a confusing tar error. Both decompressors bound their output per read,
so a small hostile blob cannot expand into memory all at once.

gzip is inflated by ISA-L (PyPI `isal`) when its wheel is installed: on image layers it
inflates 1.6-2.6 times faster than the standard library's zlib, and inflate is the
largest single cost of a diff (benchmarks/README.md, which also says why not zlib-ng).
Without the wheel, stdlib zlib does it. Both have zlib's decompressobj interface, check
the gzip CRC and length, and release the GIL while they work. REPRO_INFLATER=zlib
forces the standard library (to measure the difference).
"""

from __future__ import annotations

import os
import zlib
from types import ModuleType
from typing import Any, BinaryIO

import zstandard

from repro.errors import FormatError, ReproError
from repro.oci import model as m
from repro.oci.verify import CHUNK, RawReader

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"

# media type -> compression; DESIGN lists the OCI and Docker layer types
LAYER_COMPRESSION: dict[str, str] = {
    m.OCI_LAYER: "none",
    m.OCI_LAYER_GZIP: "gzip",
    m.OCI_LAYER_ZSTD: "zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar": "none",
    m.OCI_LAYER_NONDIST_GZIP: "gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd": "zstd",
    m.DOCKER_LAYER: "none",
    m.DOCKER_LAYER_GZIP: "gzip",
    m.DOCKER_LAYER_ZSTD: "zstd",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip": "gzip",
}


def pick_inflater(forced: str | None = None) -> tuple[str, ModuleType]:
    """(name, module) of the gzip inflater: ISA-L if its wheel loads and neither `forced`
    nor $REPRO_INFLATER says "zlib", else the standard library's zlib."""
    if (forced or os.environ.get("REPRO_INFLATER")) != "zlib":
        try:
            from isal import isal_zlib

            return "isal", isal_zlib
        except ImportError:  # no wheel for this platform: the standard library it is
            pass
    return "zlib", zlib


INFLATER, _inflate = pick_inflater()
_INFLATE_ERRORS: tuple[type[BaseException], ...] = (zlib.error, _inflate.error)


def compression_of(media_type: str) -> str | None:
    """"gzip", "zstd", "none", or None for a media type that is not a layer tar."""
    return LAYER_COMPRESSION.get(media_type)


def sniff(head: bytes) -> str:
    """Compression a blob's first bytes announce."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    if len(head) >= 4 and int.from_bytes(head[:4], "little") in _SKIPPABLE:
        return "zstd"  # a skippable frame first (RFC 8878 §3.1.2): valid zstd, as the tracker knows
    return "none"


def check_magic(head: bytes, compression: str, label: str) -> None:
    """FormatError unless a blob's first bytes `head` announce `compression`."""
    found = sniff(head)
    if found != compression:
        shown = head.hex() or "an empty blob"
        raise FormatError(f"{label}: media type says {compression} but the data starts with {shown} ({found})")


def decompress(raw: BinaryIO, compression: str, label: str) -> BinaryIO:
    """The decompressed stream of `raw`, after checking its magic matches `compression`."""
    head = _read_head(raw, 4)
    check_magic(head, compression, label)
    if compression == "gzip":
        return _GzipReader(raw, head, label)
    if compression == "zstd":
        return _ZstdReader(raw, head, label)
    return _Prefixed(raw, head)


def _read_head(raw: BinaryIO, n: int) -> bytes:
    head = b""
    while len(head) < n:
        data = raw.read(n - len(head))
        if not data:
            break
        head += data
    return head


class _Prefixed(RawReader):
    """`raw` with the bytes already peeked at put back in front."""

    def __init__(self, raw: BinaryIO, head: bytes) -> None:
        super().__init__()
        self._raw, self._head = raw, head

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            return self.readall()
        if self._head:
            data, self._head = self._head[:size], self._head[size:]
            return data
        return self._raw.read(size)

    def close(self) -> None:
        self._raw.close()
        super().close()


class _GzipReader(RawReader):
    """Streaming gzip (wbits=31) with the chosen inflater, including multi-member files.

    gzip.GzipFile would do, but it reads in small pieces and hides where a truncated
    member ends; zlib.decompressobj with max_length gives bounded output and `eof`.
    """

    def __init__(self, raw: BinaryIO, head: bytes, label: str) -> None:
        super().__init__()
        self._raw, self._label = raw, label
        self._pending = head  # compressed bytes not yet given to zlib
        self._d: Any = _inflate.decompressobj(31)
        self._in_member = True
        self._done = False

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            return self.readall()
        if size == 0:
            return b""
        want = size
        try:
            while not self._done:
                if not self._pending:
                    self._pending = self._raw.read(CHUNK)
                    if not self._pending:
                        if self._in_member:
                            raise FormatError(f"{self._label}: gzip data truncated")
                        self._done = True
                        break
                if not self._in_member:
                    # between members: gzip allows zero padding after the last one
                    self._pending = self._pending.lstrip(b"\0")
                    if not self._pending:
                        continue
                    if not self._pending.startswith(GZIP_MAGIC[: len(self._pending)]):
                        raise FormatError(f"{self._label}: trailing garbage after gzip data")
                    self._d = _inflate.decompressobj(31)
                    self._in_member = True
                out = self._d.decompress(self._pending, want)
                if self._d.eof:
                    self._pending = self._d.unused_data
                    self._in_member = False
                else:
                    self._pending = self._d.unconsumed_tail
                if out:
                    return out
        except _INFLATE_ERRORS as e:
            raise FormatError(f"{self._label}: corrupt gzip data: {e}") from None
        return b""

    def close(self) -> None:
        self._raw.close()
        super().close()


class _ZstdReader(RawReader):
    """zstd via python-zstandard's stream_reader (bounded output, all frames).

    stream_reader returns a short stream without complaint when its input is cut
    short, so the compressed bytes are also passed through a frame tracker that
    knows where every frame ends.
    """

    def __init__(self, raw: BinaryIO, head: bytes, label: str) -> None:
        super().__init__()
        self._label = label
        self._tracker = _ZstdFrames(label)
        self._tap = _Tap(_Prefixed(raw, head), self._tracker)
        self._reader = zstandard.ZstdDecompressor().stream_reader(
            self._tap, read_size=CHUNK, read_across_frames=True
        )
        self._done = False

    def read(self, size: int = -1) -> bytes:
        if self._done:
            return b""
        if size is None or size < 0:
            return self.readall()
        if size == 0:
            return b""
        want = size
        try:
            data = self._reader.read(want)
        except ReproError:
            raise
        except zstandard.ZstdError as e:
            raise FormatError(f"{self._label}: corrupt zstd data: {e}") from None
        if not data:
            self._done = True
            # drain anything the decompressor did not ask for, so the tracker sees it all
            while self._tap.read(CHUNK):
                pass
            if not self._tracker.complete():
                raise FormatError(f"{self._label}: zstd data truncated")
        return data

    def close(self) -> None:
        self._tap.close()
        super().close()


class _Tap(RawReader):
    def __init__(self, raw: BinaryIO, tracker: "_ZstdFrames") -> None:
        super().__init__()
        self._raw, self._tracker = raw, tracker

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(CHUNK if size is None or size < 0 else size)
        if data:
            self._tracker.feed(data)
        return data

    def close(self) -> None:
        self._raw.close()
        super().close()


_SKIPPABLE = range(0x184D2A50, 0x184D2A60)


class _ZstdFrames:
    """Follows zstd frame structure (RFC 8878 §3.1) over the compressed bytes: frame
    headers, block headers, checksums, skippable frames. Cheap: a few operations per
    block of up to 128 KiB; the block contents themselves are skipped."""

    def __init__(self, label: str) -> None:
        self._label = label
        self._state = "magic"
        self._buf = b""
        self._skip = 0
        self._checksum = False
        self._rest = 0  # frame header bytes after the descriptor byte
        self.frames = 0

    def _need(self) -> int:
        return {"magic": 4, "fhd": 1, "block": 3, "skipsize": 4}.get(self._state, self._rest)

    def feed(self, data: bytes) -> None:
        pos, n = 0, len(data)
        while pos < n:
            if self._skip:
                k = min(self._skip, n - pos)
                self._skip -= k
                pos += k
                continue
            need = self._need()
            take = min(need - len(self._buf), n - pos)
            self._buf += data[pos : pos + take]
            pos += take
            if len(self._buf) == need:
                field, self._buf = self._buf, b""
                self._advance(field)

    def _advance(self, field: bytes) -> None:
        if self._state == "magic":
            magic = int.from_bytes(field, "little")
            if field == ZSTD_MAGIC:
                self._state = "fhd"
            elif magic in _SKIPPABLE:
                self._state = "skipsize"
            else:
                raise FormatError(f"{self._label}: corrupt zstd data: unknown frame magic {field.hex()}")
        elif self._state == "skipsize":
            self._skip = int.from_bytes(field, "little")
            self._state = "magic"
        elif self._state == "fhd":
            fhd = field[0]
            fcs_flag, single, did_flag = fhd >> 6, (fhd >> 5) & 1, fhd & 3
            if fhd & 0x08:
                raise FormatError(f"{self._label}: corrupt zstd data: reserved frame header bit set")
            self._checksum = bool(fhd & 0x04)
            fcs = (1 if single else 0, 2, 4, 8)[fcs_flag]
            self._rest = (0 if single else 1) + (0, 1, 2, 4)[did_flag] + fcs
            self._state = "rest" if self._rest else "block"
        elif self._state == "rest":
            self._state = "block"
        elif self._state == "block":
            header = int.from_bytes(field, "little")
            last, btype, bsize = header & 1, (header >> 1) & 3, header >> 3
            if btype == 3:
                raise FormatError(f"{self._label}: corrupt zstd data: reserved block type")
            self._skip = 1 if btype == 1 else bsize
            if last:
                self._skip += 4 if self._checksum else 0
                self._state = "magic"
                self.frames += 1

    def complete(self) -> bool:
        return self._state == "magic" and not self._buf and not self._skip and self.frames > 0
