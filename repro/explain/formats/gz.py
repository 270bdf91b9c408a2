"""gzip files: header fields (RFC 1952) and the decompressed payloads.

The header stores MTIME and, unless `gzip -n`, the original file name (FNAME): two gzip
files of equal payload then differ only there. Both payloads are inflated up to
MAX_INFLATE bytes each (a decompression bomb stops there; `payload_truncated` says so)
and compared; when they differ, the payloads are looked at one level deeper (a .tar.gz
holds a tar, a .txt.gz text) and that look is kept under `payload`, except a text diff,
which is lifted to `diff` / `diff_truncated` where renderers look for it.
"""

from __future__ import annotations

import struct
import zlib

from repro.explain.formats.base import Detail, Format, LookContext, guarded, pair

MAGIC = b"\x1f\x8b"
MAX_INFLATE = 8 << 20
MAX_MEMBERS = 64

FTEXT, FHCRC, FEXTRA, FNAME, FCOMMENT = 1, 2, 4, 8, 16
OS_NAMES = {0: "fat", 3: "unix", 7: "macos", 11: "ntfs", 255: "unknown"}


def parse_header(data: bytes) -> dict[str, object] | None:
    """The first member's header fields, or None when `data` is not gzip."""
    if len(data) < 10 or data[:2] != MAGIC or data[2] != 8:
        return None
    flags, mtime, xfl, os_ = data[3], *struct.unpack_from("<I", data, 4), data[8], data[9]
    h: dict[str, object] = {"mtime": mtime, "xfl": xfl, "os": OS_NAMES.get(os_, str(os_)),
                            "flags": flags}
    pos = 10
    if flags & FEXTRA:
        (xlen,) = struct.unpack_from("<H", data, pos)
        h["extra"] = data[pos + 2 : pos + 2 + xlen].hex()
        pos += 2 + xlen
    for flag, name in ((FNAME, "fname"), (FCOMMENT, "comment")):
        if flags & flag:
            end = data.index(b"\0", pos)
            h[name] = data[pos:end].decode("latin-1")
            pos = end + 1
    return h


def inflate(data: bytes, limit: int = MAX_INFLATE) -> tuple[bytes, bool]:
    """The concatenated payload of every member, at most `limit` bytes.

    The flag is True when the payload is not all there: cut at `limit`, or the stream
    ends early. Trailing bytes that are not another member are ignored, as gzip does.
    """
    out = bytearray()
    rest = data
    for _ in range(MAX_MEMBERS):
        d = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        buf = rest
        while not d.eof:
            room = limit - len(out)
            if room <= 0:
                return bytes(out), True
            out += d.decompress(buf, room)  # room >= 1: max_length 0 would mean unbounded
            buf = d.unconsumed_tail
            if not buf and not d.eof and len(out) < limit:
                return bytes(out), True  # the stream ends early
        rest = d.unused_data
        if not rest.startswith(MAGIC):
            break
    return bytes(out), False


def payload_name(path: str, header: dict[str, object]) -> str:
    for suffix, repl in ((".tgz", ".tar"), (".gz", ""), (".z", "")):
        if path.lower().endswith(suffix):
            return path[: -len(suffix)] + repl
    return str(header.get("fname") or path)


@guarded
def look(path: str, a: bytes, b: bytes, ctx: LookContext) -> Detail | None:
    ha, hb = parse_header(a), parse_header(b)
    if ha is None or hb is None:
        return None
    keys = ("mtime", "fname", "comment", "extra", "xfl", "os", "flags")
    header_diff = {k: pair(ha.get(k), hb.get(k)) for k in keys if ha.get(k) != hb.get(k)}
    pa, cut_a = inflate(a)
    pb, cut_b = inflate(b)
    truncated = cut_a or cut_b
    detail: Detail = {
        "header_diff": header_diff,
        "payload_size": pair(len(pa), len(pb)),
        "payload_truncated": truncated,
        "payload_equal": not truncated and pa == pb,
    }
    if not detail["payload_equal"] and not truncated:
        inner = ctx.nested(payload_name(path or "", ha), pa, pb)
        if "diff" in inner:  # renderers show detail["diff"]: lift the payload's text diff
            detail["diff"] = inner.pop("diff")
            detail["diff_truncated"] = inner.pop("diff_truncated", False)
        if inner:
            detail["payload"] = inner
    return detail


FORMAT = Format(name="gzip", look=look, globs=("**/*.gz", "**/*.tgz"), magic=(MAGIC,),
                compressed=True)
