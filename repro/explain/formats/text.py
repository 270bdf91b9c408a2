"""Text files: a bounded unified diff of the two sides.

Recognised by content, not name: both sides decode as UTF-8 (a little damage tolerated)
and hold no NUL byte near the start. The diff is cut at MAX_DIFF_LINES lines and
MAX_DIFF_BYTES characters so a report stays readable; `diff_truncated` says when.
"""

from __future__ import annotations

from repro.explain import linediff
from repro.explain.formats.base import Detail, Format, LookContext, guarded, pair

MAX_INPUT = 1 << 20  # bytes per side that are diffed; the rest is not shown
MAX_LINES_IN = 100_000  # lines per side diffed
MAX_DIFF_LINES = 40
MAX_DIFF_BYTES = 4096
SNIFF = 8192


def decode_text(data: bytes) -> str | None:
    """The text of `data` when it looks like text, else None."""
    head = data[:SNIFF]
    if b"\0" in head:
        return None
    text = data.decode("utf-8", "replace")
    bad = text.count("\ufffd")
    if bad and bad > max(2, len(text) // 200):
        return None
    return text


def bounded_unified_diff(a: str, b: str, name: str) -> tuple[str, bool]:
    """A unified diff of `a` and `b`, at most MAX_DIFF_LINES lines / MAX_DIFF_BYTES chars."""
    la = a.splitlines(keepends=True)[:MAX_LINES_IN]
    lb = b.splitlines(keepends=True)[:MAX_LINES_IN]
    return linediff.unified(la, lb, f"a/{name}", f"b/{name}", MAX_DIFF_LINES, MAX_DIFF_BYTES)


@guarded
def look(path: str, a: bytes, b: bytes, ctx: LookContext) -> Detail | None:
    ta, tb = decode_text(a[:MAX_INPUT]), decode_text(b[:MAX_INPUT])
    if ta is None or tb is None:
        return None
    diff, truncated = bounded_unified_diff(ta, tb, path or "file")
    return {
        "diff": diff,
        "diff_truncated": truncated or len(a) > MAX_INPUT or len(b) > MAX_INPUT,
        "lines": pair(ta.count("\n"), tb.count("\n")),
    }


FORMAT = Format(name="text", look=look, any_file=True)
