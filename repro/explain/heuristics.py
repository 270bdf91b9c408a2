"""Content heuristics for files no path, format or instruction rule explains.

Both are deliberately conservative: a wrong cause misleads more than no cause. Neither
reads a clock: times are judged against `anchors` (when the builds ran, what the images
say) and `epochs` (SOURCE_DATE_EPOCH values), so the same two files get the same answer
whatever day they are compared.

embedded-timestamp
    1. Find where the two sides differ: text files line by line (`linediff`, then
       trimmed to the differing characters), equal-length binaries byte by byte (runs
       closer than MERGE_GAP bytes are joined), other binaries as one region between
       the common prefix and suffix.
    2. Look for date-like tokens overlapping each region of at most MAX_REGION bytes
       (CONTEXT bytes around it are searched so a token cut by the diff is seen whole):
       ISO 8601 (`2023-11-14T22:13:20Z`, date only too), date(1)/ctime (`Tue Nov 14
       22:13:20 UTC 2023`), RFC 2822 (`Tue, 14 Nov 2023 22:13:20 +0000`), C `__DATE__
       __TIME__` (`Nov 14 2023 22:13:20`, `Nov  4 2023`), compact digits (`20231114`,
       `20231114221320`, `20231114.221320`), Unix times as bare digit runs (10 digits
       seconds, optionally `.fraction`; 13/16/19 digits ms/µs/ns) and a time of day on
       its own (`22:13:20`, as C's `__TIME__` writes it). A token is plausible when it
       parses to a time between 1990 and 2100. Tokens are paired in order within a
       region; pairs with equal text are dropped.
    3. A pair is *convincing* when
         - both are written dates (not bare digits) within PAIR_WINDOW (2 days) of each
           other, or both are times of day (a clock read twice), or
         - each is within ANCHOR_WINDOW of a time its own build is known to have run at
           (`sides`: check's start times, unclamped `created` and mtimes), however far
           apart the two builds were, or
         - they are bare digits within PAIR_WINDOW of each other and either *anchored*
           (one within ANCHOR_WINDOW of an anchor), or *self-evident*: their gap is small
           (at most SELF_RATIO) against their distance from every epoch (the Unix epoch and
           each SOURCE_DATE_EPOCH): two Unix times 2 s apart, years after any epoch, are
           two reads of a clock, not a counter, or
         - `clock` is set (the instruction that made the file reads the clock) and they
           are within PAIR_WINDOW.
       The cause is given when
         a. masking every plausible token in both files makes them equal (the files
            differ *only* by date-like values: `only_timestamps` true) and every pair
            made of bare digits is convincing (written dates need no closeness, so an old
            image against a rebuild still gets the cause), or
         b. some pair is convincing (`only_timestamps` false: something else differs too).

random-content
    Given only when no timestamp pair was found and the raw bytes are not a known
    compressed format (compressed bytes always look random). The differing spans (runs
    of differing bytes, joined across up to MERGE_GAP equal bytes) are taken from the
    whole file when both sides have the same length (a file of at most SMALL_FILE bytes
    is one span, edges included), else from each differing region whose two sides have
    the same length. The alphabet is the smallest of digits, hex,
    base64, printable and bytes that holds the differing bytes; equal bytes outside it
    are structure (a UUID's dashes) and do not count. Then
      - the spans hold at least MIN_BITS bits (span bytes × log2 alphabet: 4 random
        bytes, 8 hex digits, 10 decimal digits) in at most MAX_SPANS spans;
      - no one relation ties the two sides (the same XOR for most differing bytes, as a
        case change has);
      - the equal bytes inside the spans are as many as chance allows: a binomial
        tail P(X ≥ equal), X ~ B(span bytes, 1/alphabet), of at least MIN_CHANCE
        (8 random bytes with one equal by chance still count), and the longest run of
        equal bytes no longer than chance gives (span × alphabet^-run ≥ MIN_RUN_CHANCE: a
        counter's common prefix is not chance);
      - the differing bytes look drawn from the alphabet: at least DISTINCT_SHARE of the
        distinct values a uniform draw would show, and an entropy of at least
        MIN_ENTROPY of log2 of that many distinct values.
    A UUID, a hex key, a 4-byte random value or a salt passes; a counter, a version bump
    or a changed word does not. `clock`-free: a 10-digit random number far from any
    other is random, two close ones are a timestamp (checked first).

reordered
    Text whose lines are the same multiset in another order (`shuf`, a directory listing
    in readdir order): `reordered` gives the line count. Which cause that is depends on
    the instruction (randomness or file order), so the catalogue decides.

Everything is bounded: at most MAX_SCAN bytes per side are examined, and files that
differ in more than MAX_REGIONS places or MAX_DIFF_BYTES bytes get no heuristic (a file
that differs everywhere holds no single embedded value).
"""

from __future__ import annotations

import bisect
import math
import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable

from repro.explain import linediff

PAIR_WINDOW = 2 * 86400
ANCHOR_WINDOW = 2 * 86400
SELF_RATIO = 1e-3
MIN_PLAUSIBLE = 631152000  # 1990-01-01T00:00:00Z
MAX_PLAUSIBLE = 4102444800  # 2100-01-01T00:00:00Z
DAY = 86400
MAX_SCAN = 4 << 20
MAX_LINES = 100_000
MAX_REGIONS = 256
MAX_REGION = 4096  # bytes per side of one region searched for dates
MERGE_GAP = 4
CONTEXT = 48
MAX_LISTED = 10
MAX_SPANS = 16
MIN_BITS = 32  # a span must hold at least this much randomness (4 bytes, 8 hex digits)
MIN_CHANCE = 1e-3
MIN_RUN_CHANCE = 2e-3
DISTINCT_SHARE = 0.5
MIN_ENTROPY = 0.75
MAX_DIFF_BYTES = 64 << 10
MIN_REORDERED = 2
SMALL_FILE = 64  # bytes: a file this small that differs is taken whole as one value

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


def _time_of_day(m: re.Match[bytes]) -> float:
    return int(m[1]) * 3600 + int(m[2]) * 60 + int(m[3])


DATE, DIGITS, TIME_OF_DAY = "date", "digits", "time-of-day"

_PATTERNS: tuple[tuple[re.Pattern[bytes], Callable[[re.Match[bytes]], float], str], ...] = (
    (re.compile(rb"(?<![0-9])(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})"
                rb"(?:[.,]\d{1,9})?)?)?(?: ?(Z|UTC|GMT|[+-]\d{2}:?\d{2}))?(?![0-9])"),
     lambda m: _when(m[1], int(m[2]), m[3], m[4], m[5], m[6], m[7]), DATE),
    (re.compile(_DOW + _MON + rb" +(\d{1,2}) (\d{2}):(\d{2}):(\d{2})"
                rb"(?: ([A-Z]{2,5}|[+-]\d{4}))? (\d{4})(?![0-9])"),
     lambda m: _when(m[7], _MONTHS[m[1].decode()], m[2], m[3], m[4], m[5], m[6]), DATE),
    (re.compile(_DOW + rb"(?<![0-9])(\d{1,2}) " + _MON + rb" (\d{4}) (\d{2}):(\d{2})"
                rb"(?::(\d{2}))?(?: ?([+-]\d{4}|[A-Z]{2,5}))?"),
     lambda m: _when(m[3], _MONTHS[m[2].decode()], m[1], m[4], m[5], m[6], m[7]), DATE),
    (re.compile(_MON + rb" +(\d{1,2}),? (\d{4})(?:[ \0]+(\d{2}):(\d{2}):(\d{2}))?(?![0-9])"),
     lambda m: _when(m[3], _MONTHS[m[1].decode()], m[2], m[4], m[5], m[6]), DATE),
    (re.compile(rb"(?<![0-9A-Za-z])(\d{4})(\d{2})(\d{2})(?:[T.]?(\d{2})(\d{2})(\d{2}))?Z?"
                rb"(?![0-9])"),
     lambda m: _when(m[1], int(m[2]), m[3], m[4], m[5], m[6]), DIGITS),
    (re.compile(rb"(?<![0-9A-Za-z.])(\d{19}|\d{16}|\d{13}|\d{10}|\d{9})(?:\.\d{1,9})?"
                rb"(?![0-9A-Za-z])"),
     _unix, DIGITS),
    (re.compile(rb"(?<![0-9:.])([01]\d|2[0-3]):([0-5]\d):([0-5]\d)(?![0-9:])"),
     _time_of_day, TIME_OF_DAY),
)


@dataclass(frozen=True)
class Token:
    start: int
    end: int
    when: float  # Unix seconds; seconds of the day for a time of day
    text: str
    kind: str  # DATE | DIGITS (a bare run of digits: could be a counter) | TIME_OF_DAY

    @property
    def digits(self) -> bool:
        return self.kind == DIGITS


def tokens(data: bytes, lo: int = 0, hi: int | None = None) -> list[Token]:
    """Plausible date-like tokens in data[lo:hi], non-overlapping, longest first."""
    hi = len(data) if hi is None else hi
    found: list[Token] = []
    for rx, parse, kind in _PATTERNS:
        for m in rx.finditer(data, max(lo, 0), hi):
            try:
                when = parse(m)
            except (ValueError, OverflowError, KeyError):
                continue
            if kind == TIME_OF_DAY or MIN_PLAUSIBLE <= when <= MAX_PLAUSIBLE:
                found.append(Token(m.start(), m.end(), when, m[0].decode("latin-1"), kind))
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


def _positional(a: bytes, b: bytes, lo: int = 0, hi: int | None = None) -> list[tuple[int, int]] | None:
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


def timestamp_pairs(a: bytes, b: bytes, rs: list[Region]) -> list[tuple[Token, Token]]:
    pairs = []
    for a0, a1, b0, b1 in rs[:MAX_REGIONS]:
        if a1 - a0 > MAX_REGION or b1 - b0 > MAX_REGION:
            continue  # a value written by a clock is short; a large region is something else
        ta = _overlapping(tokens(a, a0 - CONTEXT, a1 + CONTEXT), a0, a1)
        tb = _overlapping(tokens(b, b0 - CONTEXT, b1 + CONTEXT), b0, b1)
        pairs += [(x, y) for x, y in zip(ta, tb) if x.text != y.text and x.kind == y.kind]
    return pairs


def _delta(x: Token, y: Token) -> float:
    d = y.when - x.when
    if x.kind == TIME_OF_DAY:  # the shorter way round the clock
        d = (d + DAY / 2) % DAY - DAY / 2
    return d


@dataclass(frozen=True)
class Clock:
    """What a pair of tokens is judged against (see the module docstring)."""

    anchors: tuple[float, ...] = ()  # sorted: times either build is known to have run near
    epochs: tuple[int, ...] = ()
    clock: bool = False  # the instruction that made the file reads the clock
    sides: tuple[tuple[float, ...], tuple[float, ...]] = ((), ())  # sorted anchors of A and of B

    def close(self, x: Token, y: Token) -> bool:
        return abs(_delta(x, y)) <= PAIR_WINDOW

    @staticmethod
    def _near(t: Token, anchors: tuple[float, ...]) -> bool:
        i = bisect.bisect_left(anchors, t.when - ANCHOR_WINDOW)
        return i < len(anchors) and anchors[i] <= t.when + ANCHOR_WINDOW

    def anchored(self, x: Token, y: Token) -> bool:
        """One of the two is within ANCHOR_WINDOW of an anchor."""
        return self._near(x, self.anchors) or self._near(y, self.anchors)

    def each_at_its_build(self, x: Token, y: Token) -> bool:
        """A's value near A's build, B's near B's, however far apart the builds were
        (a published image from months ago against a rebuild from today)."""
        return self._near(x, self.sides[0]) and self._near(y, self.sides[1])

    def self_evident(self, x: Token, y: Token) -> bool:
        gap = abs(y.when - x.when)
        return all(gap <= SELF_RATIO * abs(t.when - e) for t in (x, y) for e in (0, *self.epochs))

    def convincing(self, x: Token, y: Token) -> bool:
        if x.kind == TIME_OF_DAY or y.kind == TIME_OF_DAY:
            return x.kind == y.kind
        if self.each_at_its_build(x, y):
            return True
        if not self.close(x, y):
            return False
        if not (x.digits or y.digits):
            return True
        return self.clock or self.anchored(x, y) or self.self_evident(x, y)


def _masked(data: bytes, toks: list[Token]) -> bytes:
    out, pos = bytearray(), 0
    for t in toks:
        out += data[pos : t.start] + b"\0TIME\0"
        pos = t.end
    return bytes(out + data[pos:])


def embedded_timestamp(a: bytes, b: bytes, rs: list[Region], clock: Clock) -> dict[str, Any]:
    pairs = timestamp_pairs(a, b, rs)
    if not pairs:
        return {}

    def acceptable(x: Token, y: Token) -> bool:
        return (x.kind == DATE and y.kind == DATE) or clock.convincing(x, y)

    only = (all(acceptable(x, y) for x, y in pairs)
            and _masked(a, tokens(a)) == _masked(b, tokens(b)))
    if not only and not any(clock.convincing(x, y) for x, y in pairs):
        return {}
    return {"timestamps": [describe(x, y) for x, y in pairs[:MAX_LISTED]], "only_timestamps": only}


def describe(x: Token, y: Token) -> dict[str, Any]:
    """One timestamp pair as the detail shows it."""
    out: dict[str, Any] = {"a": x.text, "b": y.text}
    if x.kind != TIME_OF_DAY:
        out["a_time"], out["b_time"] = _iso(x.when), _iso(y.when)
    out["delta_seconds"] = round(_delta(x, y), 3)
    return out


def timestamps_in(a: str, b: str, clock: Clock) -> list[dict[str, Any]]:
    """Timestamp pairs that make two short strings (names, link targets) differ: the
    strings are equal once their tokens are masked, and every pair is convincing."""
    ba, bb = a.encode("utf-8", "surrogateescape"), b.encode("utf-8", "surrogateescape")
    ta, tb = tokens(ba), tokens(bb)
    if not ta or len(ta) != len(tb) or _masked(ba, ta) != _masked(bb, tb):
        return []
    pairs = [(x, y) for x, y in zip(ta, tb) if x.text != y.text]
    if not pairs or not all(x.kind == y.kind and clock.convincing(x, y) for x, y in pairs):
        return []
    return [describe(x, y) for x, y in pairs[:MAX_LISTED]]


# --- random-content --------------------------------------------------------------------

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


def random_content(a: bytes, b: bytes, rs: list[Region] | None = None) -> dict[str, Any]:
    if any(a.startswith(m) or b.startswith(m) for m in COMPRESSED_MAGIC):
        return {}
    spans: list[Region] = []
    if len(a) == len(b) <= SMALL_FILE:
        spans = [(0, len(a), 0, len(b))]  # a small file is one value: its edges may be equal by chance
    elif len(a) == len(b):
        spans = [(lo, hi, lo, hi) for lo, hi in _positional(a, b) or ()]
    else:
        for a0, a1, b0, b1 in rs or ():
            if a1 - a0 != b1 - b0:
                return {}
            spans += [(a0 + lo, a0 + hi, b0 + lo, b0 + hi)
                      for lo, hi in _positional(a[a0:a1], b[b0:b1]) or ()]
    got = looks_random(a, b, spans)
    return {"random": got} if got else {}


def random_strings(a: str, b: str) -> dict[str, Any] | None:
    """Two short strings (name parts) of one length that look like random draws."""
    ba, bb = a.encode("utf-8", "surrogateescape"), b.encode("utf-8", "surrogateescape")
    if len(ba) != len(bb) or ba == bb:
        return None
    return looks_random(ba, bb, [(lo, hi, lo, hi) for lo, hi in _positional(ba, bb) or ()])


# --- reordered lines --------------------------------------------------------------------


def reordered(a: bytes, b: bytes) -> dict[str, Any]:
    """`reordered` when both sides are text holding the same lines in another order."""
    if a == b or not (_looks_text(a) and _looks_text(b)):
        return {}
    la, lb = a.splitlines(), b.splitlines()
    if len(la) < MIN_REORDERED or len(la) > MAX_LINES or la == lb or Counter(la) != Counter(lb):
        return {}
    moved = sum(1 for x, y in zip(la, lb) if x != y)
    return {"reordered": {"lines": len(la), "moved": moved}}


def examine(a: bytes, b: bytes, clock: Clock = Clock(), allow_random: bool = True) -> dict[str, Any]:
    """Heuristic detail for two differing byte strings: `timestamps` + `only_timestamps`,
    or `random`, or `reordered`, or nothing."""
    if a == b or len(a) > MAX_SCAN or len(b) > MAX_SCAN:
        return {}
    if allow_random:
        moved = reordered(a, b)
        if moved:
            return moved
    rs = regions(a, b)
    if rs is None:
        return {}
    found = embedded_timestamp(a, b, rs, clock)
    if found or not allow_random:
        return found
    return random_content(a, b, rs)
