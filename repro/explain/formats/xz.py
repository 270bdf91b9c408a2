"""xz and bzip2 files (`.xz`, `.txz`, `.bz2`, `.tbz2`): the decompressed payloads.

Neither format stores a time or a name of its own, so two streams that differ either hold
different payloads or were made with other settings. Both payloads are decompressed up
to MAX_OUTPUT bytes each (`payload_truncated` says when a side is cut); when they differ,
they are looked at one level deeper (a .tar.xz holds a tar) and that look is kept under
`payload`, except a text diff, which is lifted to `diff` as gzip's look does.
"""

from __future__ import annotations

import bz2
import lzma

from repro.explain.formats.base import Detail, Format, LookContext, guarded, pair

MAX_OUTPUT = 8 << 20
XZ_MAGIC = b"\xfd7zXZ\x00"
BZ2_MAGIC = b"BZh"


def decompress(data: bytes, limit: int = MAX_OUTPUT) -> tuple[bytes, bool]:
    """The payload of an xz or bzip2 stream, at most `limit` bytes; True when cut or broken."""
    d = lzma.LZMADecompressor() if data.startswith(XZ_MAGIC) else bz2.BZ2Decompressor()
    try:
        out = d.decompress(data, max_length=limit)
    except (lzma.LZMAError, OSError, EOFError, ValueError):
        return b"", True
    return out, not d.eof


def payload_name(path: str) -> str:
    for suffix, repl in ((".txz", ".tar"), (".tbz2", ".tar"), (".tbz", ".tar"), (".xz", ""), (".bz2", "")):
        if path.lower().endswith(suffix):
            return path[: -len(suffix)] + repl
    return path


@guarded
def look(path: str, a: bytes, b: bytes, ctx: LookContext) -> Detail | None:
    if not ((a.startswith(XZ_MAGIC) and b.startswith(XZ_MAGIC)) or (a.startswith(BZ2_MAGIC) and b.startswith(BZ2_MAGIC))):
        return None
    pa, cut_a = decompress(a)
    pb, cut_b = decompress(b)
    truncated = cut_a or cut_b
    detail: Detail = {
        "compression": "xz" if a.startswith(XZ_MAGIC) else "bzip2",
        "payload_size": pair(len(pa), len(pb)),
        "payload_truncated": truncated,
        "payload_equal": not truncated and pa == pb,
    }
    if not detail["payload_equal"] and not truncated:
        inner = ctx.nested(payload_name(path or ""), pa, pb)
        if "diff" in inner:
            detail["diff"] = inner.pop("diff")
            detail["diff_truncated"] = inner.pop("diff_truncated", False)
        if inner:
            detail["payload"] = inner
    return detail


FORMAT = Format(name="xz", look=look, globs=("**/*.xz", "**/*.txz", "**/*.bz2", "**/*.tbz2", "**/*.tbz"),
                magic=(XZ_MAGIC, BZ2_MAGIC), compressed=True)
