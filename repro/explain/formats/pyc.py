"""Python bytecode caches (`*.pyc`): which header fields differ, and whether the code does.

Header layouts by magic number (little-endian u16 in bytes 0–1, then b"\\r\\n"):
  * Python ≥ 3.7 (magic 3390…): magic, flags (u32), then 8 bytes that PEP 552 defines
    by `flags`: 0 → source mtime (u32) + source size (u32); bit 0 set → SipHash of the
    source (bit 1: checked by the importer);
  * Python 3.3–3.6 (3000–3389): magic, mtime, size;
  * older (Python 2 magics): magic, mtime.
The marshalled code after the header is compared byte for byte and never unmarshalled:
marshal is not safe against crafted data and the pyc may be for another Python.
"""

from __future__ import annotations

import struct

from repro.explain.formats.base import Detail, Format, LookContext, guarded, pair

INVALIDATION = {0: "timestamp", 1: "unchecked-hash", 3: "checked-hash"}


def parse_header(data: bytes) -> dict[str, object] | None:
    """The header fields of one pyc, or None when it is not one."""
    if len(data) < 8 or data[2:4] != b"\r\n":
        return None
    magic = struct.unpack_from("<H", data, 0)[0]
    if 3390 <= magic < 10000:
        if len(data) < 16:
            return None
        flags = struct.unpack_from("<I", data, 4)[0]
        h: dict[str, object] = {"magic": magic, "flags": flags, "header_size": 16}
        h["invalidation"] = INVALIDATION.get(flags, f"unknown({flags})")
        if flags & 1:
            h["source_hash"] = data[8:16].hex()
        else:
            h["mtime"], h["source_size"] = struct.unpack_from("<II", data, 8)
        return h
    if 3000 <= magic < 3390:
        if len(data) < 12:
            return None
        mtime, size = struct.unpack_from("<II", data, 4)
        return {"magic": magic, "header_size": 12, "invalidation": "timestamp",
                "mtime": mtime, "source_size": size}
    mtime = struct.unpack_from("<I", data, 4)[0]
    return {"magic": magic, "header_size": 8, "invalidation": "timestamp", "mtime": mtime}


FIELDS = ("magic", "flags", "invalidation", "mtime", "source_size", "source_hash")


@guarded
def look(path: str, a: bytes, b: bytes, ctx: LookContext) -> Detail | None:
    ha, hb = parse_header(a), parse_header(b)
    if ha is None or hb is None:
        return None
    header_diff = {
        f: pair(ha.get(f), hb.get(f)) for f in FIELDS if ha.get(f) != hb.get(f)
    }
    code_equal = a[int(ha["header_size"]) :] == b[int(hb["header_size"]) :]
    return {
        "header_diff": header_diff,
        "invalidation": pair(ha["invalidation"], hb["invalidation"]),
        "code_equal": code_equal,
        "header_only": code_equal and bool(header_diff),
    }


FORMAT = Format(name="pyc", look=look, globs=("**/*.pyc",))
