"""Readers that trust nothing: every byte that leaves a source passes one of these.

`VerifyingReader` hashes and counts a stream as the caller reads it and raises
IntegrityError the moment it has seen more bytes than promised, or at EOF if the size or
digest differ. Verifying while streaming (rather than in a separate pass) means a layer
is read from disk once, and a comparison that never opens a layer never pays for it.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from typing import Any, BinaryIO, Callable

from repro.errors import FormatError, IntegrityError

CHUNK = 1 << 20  # large reads: hashlib and zlib release the GIL on big buffers


class BlobIntegrityError(IntegrityError):
    """Stored bytes do not match their descriptor (digest or size): the blob was changed.

    Told apart from a diffID mismatch because a corrupt stream is blamed on the blob
    only when the blob itself is wrong."""


def short(digest: str) -> str:
    """`sha256:0123456789ab…` for messages; the full digest is rarely useful on one line."""
    algo, _, hexpart = digest.partition(":")
    return f"{algo}:{hexpart[:12]}…" if len(hexpart) > 12 else digest


class RawReader(io.RawIOBase):
    """Base for the readers in repro/oci: `read()` is the primitive, `readinto` and
    `readall` derive from it (RawIOBase derives them the other way round)."""

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        n = len(data)
        b[:n] = data
        return n

    def readall(self) -> bytes:
        parts = []
        while data := self.read(CHUNK):
            parts.append(data)
        return b"".join(parts)


class VerifyingReader(RawReader):
    """Hash and count `raw` while it is read.

    `digest` is what the bytes must hash to; `size` (None = unknown) how many there must
    be; `label` names the stream in errors ("blob sha256:…", "layer 2 of linux/amd64").
    `kind` is "blob" (digest and size from a descriptor) or "diffID" (uncompressed
    content against the config's rootfs.diff_ids). `on_count` lets the caller enforce a
    limit on the running byte count.
    """

    def __init__(
        self,
        raw: BinaryIO,
        digest: str,
        size: int | None,
        label: str,
        kind: str = "blob",
        on_count: Callable[[int], None] | None = None,
    ) -> None:
        super().__init__()
        algo = digest.partition(":")[0]
        self._raw = raw
        self._hash = hashlib.new(algo)
        self._digest = digest
        self._size = size
        self._label = label
        self._kind = kind
        self._on_count = on_count
        self.count = 0
        self.verified = False

    def read(self, size: int = -1) -> bytes:
        if self.verified:
            return b""
        if size is None or size < 0:
            return self.readall()
        if size == 0:
            return b""
        want = size
        if self._size is not None:
            # ask for one byte past the promise so an oversized stream is caught at once
            want = min(want, self._size - self.count + 1)
        data = self._raw.read(want)
        if data:
            self.count += len(data)
            if self._size is not None and self.count > self._size:
                raise self._error(
                    f"{self._label}: size mismatch: more than the {self._size} bytes its descriptor says"
                )
            if self._on_count is not None:
                self._on_count(self.count)
            self._hash.update(data)
            return data
        self._finish()
        return b""

    def _finish(self) -> None:
        if self.verified:
            return
        if self._size is not None and self.count != self._size:
            raise self._error(
                f"{self._label}: size mismatch: descriptor says {self._size} bytes, blob has {self.count}"
            )
        algo = self._digest.partition(":")[0]
        actual = f"{algo}:{self._hash.hexdigest()}"
        if actual != self._digest:
            if self._kind == "diffID":
                raise IntegrityError(
                    f"{self._label}: diffID mismatch: config says {short(self._digest)}, content is {short(actual)}"
                )
            raise self._error(f"{self._label}: digest mismatch: content hashes to {short(actual)}")
        self.verified = True

    def _error(self, message: str) -> IntegrityError:
        return BlobIntegrityError(message) if self._kind == "blob" else IntegrityError(message)

    def close(self) -> None:
        try:
            self._raw.close()
        finally:
            super().close()


def read_limited(raw: BinaryIO, limit: int) -> bytes:
    """Read at most `limit` bytes from `raw`; more means trouble the caller names."""
    parts, total = [], 0
    while total <= limit:
        data = raw.read(min(CHUNK, limit + 1 - total))
        if not data:
            break
        parts.append(data)
        total += len(data)
    return b"".join(parts)


def parse_json(data: bytes, what: str) -> Any:
    """Parse a JSON document; FormatError naming `what` for anything that is not JSON.

    Strict RFC 8259, as Go's encoding/json (and so every registry and runtime) reads it:
    `NaN`, `Infinity` and numbers too large for a double (`1e999`) are refused, since they
    could not be written back into a strict JSON report."""
    try:
        text = data.decode("utf-8")
        return json.loads(text, parse_constant=_not_json, parse_float=_finite)
    except UnicodeDecodeError as e:
        raise FormatError(f"{what}: not UTF-8 JSON (byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise FormatError(f"{what}: invalid JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
    except _NotJSON as e:
        raise FormatError(f"{what}: invalid JSON: {e}") from None
    except (ValueError, RecursionError) as e:
        # ValueError: integers past the digit limit; RecursionError: absurd nesting
        raise FormatError(f"{what}: invalid JSON: {type(e).__name__}") from None


class _NotJSON(ValueError):
    pass


def _not_json(name: str) -> Any:
    raise _NotJSON(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotJSON(f"number {text[:40]} is out of range")
    return value
