"""Where two versions of a file differ: the regions the content heuristics look at
(see `repro.explain.heuristics` for how they are used).

Text files are diffed line by line (`linediff`) and each hunk trimmed to the differing
characters; equal-length binaries are compared byte by byte (runs closer than MERGE_GAP
bytes are joined); other binaries are one region between the common prefix and suffix.
Bounded: more than MAX_REGIONS places or MAX_DIFF_BYTES differing bytes give None.
"""

from __future__ import annotations

from repro.explain import linediff

MAX_LINES = 100_000
MAX_REGIONS = 256
MERGE_GAP = 4
MAX_DIFF_BYTES = 64 << 10

Region = tuple[int, int, int, int]  # a_lo, a_hi, b_lo, b_hi


def looks_text(data: bytes) -> bool:
    return b"\0" not in data[:8192]


def _common(a: bytes, b: bytes) -> int:
    """Length of the common prefix of a and b (binary search over C-speed compares)."""
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _trim(a: bytes, b: bytes, a0: int, a1: int, b0: int, b1: int) -> Region:
    """Shrink [a0,a1) / [b0,b1) by their common prefix and suffix."""
    p = _common(a[a0:a1], b[b0:b1])
    s = _common(a[a0 + p : a1][::-1], b[b0 + p : b1][::-1])
    return a0 + p, a1 - s, b0 + p, b1 - s


def positional(a: bytes, b: bytes, lo: int = 0, hi: int | None = None) -> list[tuple[int, int]] | None:
    """Runs [lo, hi) where equal-length a and b differ, runs within MERGE_GAP joined;
    None when there are more than MAX_REGIONS runs or MAX_DIFF_BYTES differing bytes."""
    hi = len(a) if hi is None else hi
    runs: list[tuple[int, int]] = []
    count = 0
    step = 4096
    for base in range(lo, hi, step):
        top = min(base + step, hi)
        if a[base:top] == b[base:top]:
            continue
        for i in range(base, top):
            if a[i] != b[i]:
                count += 1
                if runs and i - runs[-1][1] <= MERGE_GAP:
                    runs[-1] = (runs[-1][0], i + 1)
                else:
                    runs.append((i, i + 1))
        if len(runs) > MAX_REGIONS or count > MAX_DIFF_BYTES:
            return None
    return runs


def regions(a: bytes, b: bytes) -> list[Region] | None:
    """Where a and b differ, or None when they differ in too many places to tell."""
    if looks_text(a) and looks_text(b):
        la, lb = a.splitlines(keepends=True), b.splitlines(keepends=True)
        if len(la) <= MAX_LINES and len(lb) <= MAX_LINES:
            offs_a, offs_b = _offsets(la), _offsets(lb)
            out = [_trim(a, b, offs_a[i1], offs_a[i2], offs_b[j1], offs_b[j2])
                   for i1, i2, j1, j2 in linediff.hunks(la, lb, MAX_REGIONS + 1)]
            return out if len(out) <= MAX_REGIONS else None
    if len(a) == len(b):
        runs = positional(a, b)
        return None if runs is None else [(lo, hi, lo, hi) for lo, hi in runs]
    return [_trim(a, b, 0, len(a), 0, len(b))]


def _offsets(lines: list[bytes]) -> list[int]:
    offs = [0]
    for line in lines:
        offs.append(offs[-1] + len(line))
    return offs
