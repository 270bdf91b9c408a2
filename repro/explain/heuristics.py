"""Content heuristics for files no format or path rule explains.

Both are deliberately conservative: a wrong cause misleads more than no cause.

embedded-timestamp
    1. Find where the two sides differ: text files line by line (`linediff`, then
       trimmed to the differing characters), equal-length binaries byte by byte (runs
       closer than MERGE_GAP bytes are joined), other binaries as one region between
       the common prefix and suffix.
    2. Look for date-like tokens overlapping each region of at most MAX_REGION bytes
       (CONTEXT bytes around it are searched so a token cut by the diff is seen whole):
       ISO 8601 (`2023-11-14T22:13:20Z`, date only too), date(1)/ctime (`Tue Nov 14
       22:13:20 UTC 2023`), RFC 2822 (`Tue, 14 Nov 2023 22:13:20 +0000`), C `__DATE__
       __TIME__` (`Nov 14 2023 22:13:20`), compact digits (`20231114`,
       `20231114221320`, `20231114.221320`) and Unix times as bare digit runs (10
       digits seconds, optionally `.fraction`; 13/16/19 digits ms/µs/ns). A token is
       plausible when it parses to a time between 1990 and now + PAIR_WINDOW. Tokens are
       paired in order within a region; pairs with equal text are dropped.
    3. A pair is *close* when its two times are within PAIR_WINDOW (2 days) of each other,
       *anchored* when one of them is within ANCHOR_WINDOW (2 days) of now or of
       SOURCE_DATE_EPOCH. The cause is given when
         a. masking every plausible token in both files makes them equal (the files
            differ *only* by date-like values: `only_timestamps` true) and every pair
            made of bare digits is close and anchored (bare digits may be counters or
            sizes; written dates need no closeness, so an old image against a rebuild
            still gets the cause), or
         b. some pair is close and anchored (`only_timestamps` false: something else
            differs too).
    Time-of-day alone (`22:13:20`) is not a token: it cannot be placed near a date.

random-content
    Given only when no timestamp pair was found, both sides have the same length, and the
    raw bytes are not a known compressed format (compressed bytes always look random):
    the differing bytes fall in at most MAX_SPANS spans, number at least MIN_RANDOM per
    side, fill at least MIN_DENSITY of their spans, and their Shannon entropy reaches
    MIN_ENTROPY of the most the alphabet they are drawn from allows (hex, base64,
    printable, bytes) for that many samples. A UUID, a hex key or a random seed passes; a
    counter, a version bump or a changed word does not.

Everything is bounded: at most MAX_SCAN bytes per side are examined, and files that
differ in more than MAX_REGIONS places or MAX_DIFF_BYTES bytes get no heuristic (a file
that differs everywhere holds no single embedded value).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from repro.explain import linediff

PAIR_WINDOW = 2 * 86400
ANCHOR_WINDOW = 2 * 86400
MIN_PLAUSIBLE = 631152000  # 1990-01-01T00:00:00Z
MAX_SCAN = 4 << 20
MAX_LINES = 100_000
MAX_REGIONS = 256
MAX_REGION = 4096  # bytes per side of one region searched for dates
MERGE_GAP = 4
CONTEXT = 48
MAX_LISTED = 10
MAX_SPANS = 16
MIN_RANDOM = 8
MIN_DENSITY = 0.6
MIN_ENTROPY = 0.75
MAX_DIFF_BYTES = 64 << 10

COMPRESSED_MAGIC = (
    b"\x1f\x8b", b"\x28\xb5\x2f\xfd", b"\xfd7zXZ\x00", b"BZh", b"PK\x03\x04",
    b"\x89PNG", b"\xff\xd8\xff", b"7z\xbc\xaf", b"\x04\x22\x4d\x18", b"GIF8", b"RIFF",
)

# --- date-like tokens -------------------------------------------------------------------

_MON = rb"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_DOW = rb"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun),? +)?"
_MONTHS = {m: i + 1 for i, m in enumerate(
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"])}


def _tz(text: bytes | None) -> int:
    """Seconds east of UTC for a numeric offset; names (UTC, CET, ...) count as UTC."""
    if not text or text[:1] not in (b"+", b"-"):
        return 0
    digits = text[1:].replace(b":", b"")
    off = int(digits[:2]) * 3600 + int(digits[2:4]) * 60
    return off if text[:1] == b"+" else -off


def _when(y: bytes, mo: int, d: bytes, h: bytes | None = None, mi: bytes | None = None,
          s: bytes | None = None, tz: bytes | None = None) -> float:
    t = datetime(int(y), mo, int(d), int(h or 0), int(mi or 0), min(int(s or 0), 59),
                 tzinfo=timezone.utc)
    return t.timestamp() - _tz(tz)


def _unix(m: re.Match[bytes]) -> float:
    digits = m.group(1)
    scale = {9: 1, 10: 1, 13: 1e3, 16: 1e6, 19: 1e9}[len(digits)]
    return int(digits) / scale


_PATTERNS: tuple[tuple[re.Pattern[bytes], Callable[[re.Match[bytes]], float], bool], ...] = (
    (re.compile(rb"(?<![0-9])(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})"
                rb"(?:[.,]\d{1,9})?)?)?(?: ?(Z|UTC|GMT|[+-]\d{2}:?\d{2}))?(?![0-9])"),
     lambda m: _when(m[1], int(m[2]), m[3], m[4], m[5], m[6], m[7]), False),
    (re.compile(_DOW + _MON + rb" +(\d{1,2}) (\d{2}):(\d{2}):(\d{2})"
                rb"(?: ([A-Z]{2,5}|[+-]\d{4}))? (\d{4})(?![0-9])"),
     lambda m: _when(m[7], _MONTHS[m[1].decode()], m[2], m[3], m[4], m[5], m[6]), False),
    (re.compile(_DOW + rb"(?<![0-9])(\d{1,2}) " + _MON + rb" (\d{4}) (\d{2}):(\d{2})"
                rb"(?::(\d{2}))?(?: ?([+-]\d{4}|[A-Z]{2,5}))?"),
     lambda m: _when(m[3], _MONTHS[m[2].decode()], m[1], m[4], m[5], m[6], m[7]), False),
    (re.compile(_MON + rb" +(\d{1,2}),? (\d{4})(?: (\d{2}):(\d{2}):(\d{2}))?(?![0-9])"),
     lambda m: _when(m[3], _MONTHS[m[1].decode()], m[2], m[4], m[5], m[6]), False),
    (re.compile(rb"(?<![0-9A-Za-z])(\d{4})(\d{2})(\d{2})(?:[T.]?(\d{2})(\d{2})(\d{2}))?Z?"
                rb"(?![0-9])"),
     lambda m: _when(m[1], int(m[2]), m[3], m[4], m[5], m[6]), True),
    (re.compile(rb"(?<![0-9A-Za-z.])(\d{19}|\d{16}|\d{13}|\d{10}|\d{9})(?:\.\d{1,9})?"
                rb"(?![0-9A-Za-z])"),
     _unix, True),
)


@dataclass(frozen=True)
class Token:
    start: int
    end: int
    when: float
    text: str
    digits: bool  # a bare run of digits: could be a counter, so it must pass more tests


def tokens(data: bytes, now: float, lo: int = 0, hi: int | None = None) -> list[Token]:
    """Plausible date-like tokens in data[lo:hi], non-overlapping, longest first."""
    hi = len(data) if hi is None else hi
    found: list[Token] = []
    for rx, parse, digits in _PATTERNS:
        for m in rx.finditer(data, max(lo, 0), hi):
            try:
                when = parse(m)
            except (ValueError, OverflowError, KeyError):
                continue
            if MIN_PLAUSIBLE <= when <= now + PAIR_WINDOW:
                found.append(Token(m.start(), m.end(), when, m[0].decode("latin-1"), digits))
    found.sort(key=lambda t: (t.start, t.start - t.end))
    out: list[Token] = []
    for t in found:
        if not out or t.start >= out[-1].end:
            out.append(t)
    return out


# --- where the sides differ ------------------------------------------------------------

Region = tuple[int, int, int, int]  # a_lo, a_hi, b_lo, b_hi


def _looks_text(data: bytes) -> bool:
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


def _positional(a: bytes, b: bytes) -> list[tuple[int, int]] | None:
    """Runs [lo, hi) where equal-length a and b differ, runs within MERGE_GAP joined;
    None when there are more than MAX_REGIONS runs or MAX_DIFF_BYTES differing bytes."""
    runs: list[tuple[int, int]] = []
    count = 0
    step = 4096
    for base in range(0, len(a), step):
        if a[base : base + step] == b[base : base + step]:
            continue
        for i in range(base, min(base + step, len(a))):
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
    if _looks_text(a) and _looks_text(b):
        la, lb = a.splitlines(keepends=True), b.splitlines(keepends=True)
        if len(la) <= MAX_LINES and len(lb) <= MAX_LINES:
            offs_a, offs_b = _offsets(la), _offsets(lb)
            out = [_trim(a, b, offs_a[i1], offs_a[i2], offs_b[j1], offs_b[j2])
                   for i1, i2, j1, j2 in linediff.hunks(la, lb, MAX_REGIONS + 1)]
            return out if len(out) <= MAX_REGIONS else None
    if len(a) == len(b):
        runs = _positional(a, b)
        return None if runs is None else [(lo, hi, lo, hi) for lo, hi in runs]
    return [_trim(a, b, 0, len(a), 0, len(b))]


def _offsets(lines: list[bytes]) -> list[int]:
    offs = [0]
    for line in lines:
        offs.append(offs[-1] + len(line))
    return offs


# --- embedded-timestamp ----------------------------------------------------------------


def _overlapping(toks: list[Token], lo: int, hi: int) -> list[Token]:
    hi = max(hi, lo + 1)
    return [t for t in toks if t.start < hi and t.end > lo]


def _iso(when: float) -> str:
    return (datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=when)).isoformat()


def timestamp_pairs(a: bytes, b: bytes, rs: list[Region], now: float) -> list[tuple[Token, Token]]:
    pairs = []
    for a0, a1, b0, b1 in rs[:MAX_REGIONS]:
        if a1 - a0 > MAX_REGION or b1 - b0 > MAX_REGION:
            continue  # a value written by a clock is short; a large region is something else
        ta = _overlapping(tokens(a, now, a0 - CONTEXT, a1 + CONTEXT), a0, a1)
        tb = _overlapping(tokens(b, now, b0 - CONTEXT, b1 + CONTEXT), b0, b1)
        pairs += [(x, y) for x, y in zip(ta, tb) if x.text != y.text]
    return pairs


def _masked(data: bytes, toks: list[Token]) -> bytes:
    out, pos = bytearray(), 0
    for t in toks:
        out += data[pos : t.start] + b"\0TIME\0"
        pos = t.end
    return bytes(out + data[pos:])


def embedded_timestamp(a: bytes, b: bytes, rs: list[Region], now: float,
                       epoch: int | None) -> dict[str, Any]:
    pairs = timestamp_pairs(a, b, rs, now)
    if not pairs:
        return {}
    anchors = [now] + ([epoch] if epoch is not None else [])

    def close(x: Token, y: Token) -> bool:
        return abs(x.when - y.when) <= PAIR_WINDOW

    def anchored(x: Token, y: Token) -> bool:
        return any(abs(t.when - c) <= ANCHOR_WINDOW for t in (x, y) for c in anchors)

    def strong_ok(x: Token, y: Token) -> bool:
        return not (x.digits or y.digits) or (close(x, y) and anchored(x, y))

    only = (all(strong_ok(x, y) for x, y in pairs)
            and _masked(a, tokens(a, now)) == _masked(b, tokens(b, now)))
    if not only and not any(close(x, y) and anchored(x, y) for x, y in pairs):
        return {}
    return {
        "timestamps": [
            {"a": x.text, "b": y.text, "a_time": _iso(x.when), "b_time": _iso(y.when),
             "delta_seconds": round(y.when - x.when, 3)}
            for x, y in pairs[:MAX_LISTED]
        ],
        "only_timestamps": only,
    }


# --- random-content --------------------------------------------------------------------

_HEX = frozenset(b"0123456789abcdefABCDEF")
_B64 = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_")
_PRINTABLE = frozenset(range(0x20, 0x7F))


def entropy(sample: bytes) -> float:
    n = len(sample)
    return -sum(c / n * math.log2(c / n) for c in Counter(sample).values()) if n else 0.0


def random_content(a: bytes, b: bytes) -> dict[str, Any]:
    if len(a) != len(b) or any(a.startswith(m) or b.startswith(m) for m in COMPRESSED_MAGIC):
        return {}
    runs = _positional(a, b)
    if not runs or len(runs) > MAX_SPANS:
        return {}
    da = bytearray(a[i] for lo, hi in runs for i in range(lo, hi) if a[i] != b[i])
    db = bytearray(b[i] for lo, hi in runs for i in range(lo, hi) if a[i] != b[i])
    n, span = len(da), sum(hi - lo for lo, hi in runs)
    if n < MIN_RANDOM or n / span < MIN_DENSITY:
        return {}
    sample = bytes(da + db)
    chars = set(sample)
    alphabet = (16 if chars <= _HEX else 64 if chars <= _B64
                else 95 if chars <= _PRINTABLE else 256)
    h = entropy(sample)
    if h < MIN_ENTROPY * math.log2(min(len(sample), alphabet)):
        return {}
    return {"random": {"differing_bytes": n, "spans": len(runs), "alphabet": alphabet,
                       "entropy_bits": round(h, 2)}}


def examine(a: bytes, b: bytes, now: float, epoch: int | None,
            allow_random: bool = True) -> dict[str, Any]:
    """Heuristic detail for two differing byte strings: `timestamps` + `only_timestamps`,
    or `random`, or nothing."""
    if a == b or len(a) > MAX_SCAN or len(b) > MAX_SCAN:
        return {}
    rs = regions(a, b)
    if rs is None:
        return {}
    found = embedded_timestamp(a, b, rs, now, epoch)
    if found or not allow_random:
        return found
    return random_content(a, b)
