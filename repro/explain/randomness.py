"""random-content: whether the differing bytes of two files look like two independent
random draws, allowing bytes that happen to be equal (the rules are in
`repro.explain.heuristics`).
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any, Iterable

from repro.explain.regions import MAX_DIFF_BYTES, Region, positional

MAX_SPANS = 16
MIN_BITS = 32  # a span must hold at least this much randomness (4 bytes, 8 hex digits)
MIN_CHANCE = 1e-3
MIN_RUN_CHANCE = 2e-3
DISTINCT_SHARE = 0.5
MIN_ENTROPY = 0.75
SMALL_FILE = 64  # bytes: a file this small that differs is taken whole as one value
SAMPLE = 64 << 10  # bytes sampled from a large file that differs throughout

COMPRESSED_MAGIC = (
    b"\x1f\x8b", b"\x28\xb5\x2f\xfd", b"\xfd7zXZ\x00", b"BZh", b"PK\x03\x04",
    b"\x89PNG", b"\xff\xd8\xff", b"7z\xbc\xaf", b"\x04\x22\x4d\x18", b"GIF8", b"RIFF",
)

_DIGIT = frozenset(b"0123456789")
_HEX = frozenset(b"0123456789abcdefABCDEF")
_B64 = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_")
_PRINTABLE = frozenset(range(0x20, 0x7F))
ALPHABETS: tuple[tuple[int, frozenset[int] | None], ...] = (
    (10, _DIGIT), (16, _HEX), (64, _B64), (95, _PRINTABLE), (256, None))


def entropy(sample: bytes) -> float:
    n = len(sample)
    return -sum(c / n * math.log2(c / n) for c in Counter(sample).values()) if n else 0.0


def alphabet(chars: Iterable[int]) -> tuple[int, frozenset[int] | None]:
    """The smallest alphabet holding every char (size, members; None = all bytes)."""
    cs = set(chars)
    for size, members in ALPHABETS:
        if members is None or cs <= members:
            return size, members
    return ALPHABETS[-1]


def binomial_tail(n: int, k: int, p: float) -> float:
    """P(X >= k) for X ~ B(n, p)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    if k <= n * p:  # at most the mean: about as likely as not, or more
        return 0.5
    # sum the upper terms in log space until they stop mattering
    lp, lq = math.log(p), math.log1p(-p)
    total = 0.0
    for i in range(k, n + 1):
        term = math.exp(math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * lp + (n - i) * lq)
        total += term
        if term < total * 1e-12:
            break
    return min(total, 1.0)


def _extend(data: bytes, lo: int, hi: int, members: frozenset[int]) -> tuple[int, int]:
    while lo > 0 and data[lo - 1] in members:
        lo -= 1
    while hi < len(data) and data[hi] in members:
        hi += 1
    return lo, hi


def looks_random(a: bytes, b: bytes, spans: list[Region]) -> dict[str, Any] | None:
    """Whether the differing spans of a and b (each (a_lo, a_hi, b_lo, b_hi) with two
    sides of one length, equal bytes inside included) look like independent random
    draws; the evidence, or None. For a text alphabet each span is widened to the whole
    token around it (a hex key whose first digit is equal by chance is still 8 digits)."""
    if not spans or len(spans) > MAX_SPANS:
        return None
    diff = [(a[i], b[j]) for a0, a1, b0, _ in spans for i, j in zip(range(a0, a1), range(b0, a1 - a0 + b0))
            if a[i] != b[j]]
    if not diff:
        return None
    size, members = alphabet(c for pair in diff for c in pair)
    span = equal = longest = 0
    for a0, a1, b0, b1 in spans:
        if members is not None:
            x0, x1 = _extend(a, a0, a1, members)
            y0, y1 = _extend(b, b0, b1, members)
            if (a0 - x0, x1 - a1) != (b0 - y0, y1 - b1):
                return None  # tokens of two lengths: not two draws of one generator
            a0, a1, b0, b1 = x0, x1, y0, y1
        run = 0
        for x, y in zip(a[a0:a1], b[b0:b1]):
            if x == y:
                # equal bytes outside the alphabet are structure (dashes, dots), not chance
                if members is None or x in members:
                    span += 1
                    equal += 1
                    run += 1
                    longest = max(longest, run)
                else:
                    run = 0
            else:
                span += 1
                run = 0
    if span * math.log2(size) < MIN_BITS:
        return None
    xors = Counter(x ^ y for x, y in diff)
    if len(diff) >= 4 and xors.most_common(1)[0][1] * 2 > len(diff):
        return None  # one relation between the sides (a case change, a bit flag): not chance
    chance = binomial_tail(span, equal, 1.0 / size)
    if chance < MIN_CHANCE or span * size ** -longest < MIN_RUN_CHANCE:
        return None  # more equal bytes, or a longer equal run (a counter's common prefix), than chance gives
    sample = bytes(c for pair in diff for c in pair)
    n = len(sample)
    expected_distinct = size * (1 - (1 - 1 / size) ** n)
    if len(set(sample)) < DISTINCT_SHARE * expected_distinct:
        return None
    h = entropy(sample)
    if h < MIN_ENTROPY * math.log2(max(expected_distinct, 2.0)):
        return None
    return {"differing_bytes": len(diff), "equal_by_chance": equal, "spans": len(spans),
            "alphabet": size, "entropy_bits": round(h, 2), "chance": round(chance, 4)}


def _random_throughout(a: bytes, b: bytes) -> dict[str, Any]:
    """Two large equal-length files that differ almost everywhere, like two draws of
    random bytes: judged on a sample (SAMPLE bytes from the start)."""
    n = min(len(a), SAMPLE)
    xa, xb = a[:n], b[:n]
    equal = sum(1 for x, y in zip(xa, xb) if x == y)
    expected = n / 256
    if not expected / 2 <= equal <= expected * 2:
        return {}  # random draws share about one byte in 256: far more or far fewer is structure
    if max(Counter(x ^ y for x, y in zip(xa, xb)).values()) > expected * 2:
        return {}  # one relation between the sides (shifted, mirrored or masked data)
    h = entropy(xa + xb)
    if h < 7.5:  # bits per byte: random bytes are close to 8, text and code far below
        return {}
    return {"random": {"differing_bytes": len(a), "equal_by_chance": equal, "spans": 1, "alphabet": 256,
                       "entropy_bits": round(h, 2), "sampled": n}}


def random_content(a: bytes, b: bytes, rs: list[Region] | None = None) -> dict[str, Any]:
    if any(a.startswith(m) or b.startswith(m) for m in COMPRESSED_MAGIC):
        return {}
    if len(a) == len(b) > MAX_DIFF_BYTES and rs is None:
        return _random_throughout(a, b)
    spans: list[Region] = []
    if len(a) == len(b) <= SMALL_FILE:
        spans = [(0, len(a), 0, len(b))]  # a small file is one value: its edges may be equal by chance
    elif len(a) == len(b):
        spans = [(lo, hi, lo, hi) for lo, hi in positional(a, b) or ()]
    else:
        for a0, a1, b0, b1 in rs or ():
            if a1 - a0 != b1 - b0:
                return {}
            spans += [(a0 + lo, a0 + hi, b0 + lo, b0 + hi)
                      for lo, hi in positional(a[a0:a1], b[b0:b1]) or ()]
    got = looks_random(a, b, spans)
    return {"random": got} if got else {}


def random_strings(a: str, b: str) -> dict[str, Any] | None:
    """Two short strings (name parts) of one length that look like random draws."""
    ba, bb = a.encode("utf-8", "surrogateescape"), b.encode("utf-8", "surrogateescape")
    if len(ba) != len(bb) or ba == bb:
        return None
    return looks_random(ba, bb, [(lo, hi, lo, hi) for lo, hi in positional(ba, bb) or ()])
