"""embedded-timestamp: date-like tokens in the regions where two files differ, and when
a pair of them is a clock read twice (the rules are in `repro.explain.heuristics`).

Nothing here reads a clock: a `Clock` holds the times the builds are known to have run at
(anchors, per side and together) and the SOURCE_DATE_EPOCH values (epochs).
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from repro.explain.regions import MAX_REGIONS, Region

PAIR_WINDOW = 2 * 86400
ANCHOR_WINDOW = 2 * 86400
SELF_RATIO = 1e-3
MIN_PLAUSIBLE = 631152000  # 1990-01-01T00:00:00Z
MAX_PLAUSIBLE = 4102444800  # 2100-01-01T00:00:00Z
DAY = 86400
MAX_REGION = 4096  # bytes per side of one region searched for dates
CONTEXT = 48
MAX_LISTED = 10
LONE_REGIONS = 4  # at most this many regions may hold a date on one side only
LONE_SLACK = 16  # bytes of a lone date's region outside the date (`built `, quotes)
LONE_OTHER = 64  # bytes the other side's region may hold in its place
_CLOCK_TIME = re.compile(r"\d{2}:\d{2}|[T_]\d{2}-\d{2}-\d{2}")

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
    # in file names: 2023-11-14_22-13-20, 2023-11-14T22-13-20
    (re.compile(rb"(?<![0-9])(\d{4})-(\d{2})-(\d{2})[T_-](\d{2})-(\d{2})-(\d{2})(?![0-9])"),
     lambda m: _when(m[1], int(m[2]), m[3], m[4], m[5], m[6]), DATE),
    # common log format: 14/Nov/2023:22:13:20 +0000
    (re.compile(rb"(?<![0-9])(\d{2})/" + _MON + rb"/(\d{4}):(\d{2}):(\d{2}):(\d{2})(?: ([+-]\d{4}))?"),
     lambda m: _when(m[3], _MONTHS[m[2].decode()], m[1], m[4], m[5], m[6], m[7]), DATE),
    # 11/14/2023 22:13:20 (month first; day first when the first number cannot be a month)
    (re.compile(rb"(?<![0-9/])(\d{1,2})/(\d{1,2})/(\d{4})[ T,]+(\d{2}):(\d{2})(?::(\d{2}))?(?![0-9])"),
     lambda m: _when(m[3], int(m[1]) if int(m[1]) <= 12 else int(m[2]), m[2] if int(m[1]) <= 12 else m[1],
                     m[4], m[5], m[6]), DATE),
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


def _clock_read(t: Token) -> bool:
    """A written date with a time of day (`2024-05-02T10:11:12Z`, not `2024-05-02`)."""
    return t.kind == DATE and _CLOCK_TIME.search(t.text) is not None


def lone_stamps(a: bytes, b: bytes, rs: list[Region]) -> list[dict[str, Any]]:
    """Dates written on one side only: every region holds, on one side, nothing but
    written date-times (a few bytes of label around them at most) and, on the other,
    no date-like token and at most LONE_OTHER bytes (a stamp one build wrote where the
    other wrote something short, or nothing). Otherwise []."""
    if not rs or len(rs) > LONE_REGIONS:
        return []
    out: list[dict[str, Any]] = []
    for a0, a1, b0, b1 in rs:
        ta = _overlapping(tokens(a, a0 - CONTEXT, a1 + CONTEXT), a0, a1)
        tb = _overlapping(tokens(b, b0 - CONTEXT, b1 + CONTEXT), b0, b1)
        if bool(ta) == bool(tb):
            return []
        side, toks, lo, hi, other = ("a", ta, a0, a1, b1 - b0) if ta else ("b", tb, b0, b1, a1 - a0)
        covered = sum(min(t.end, hi) - max(t.start, lo) for t in toks)
        if (not all(_clock_read(t) for t in toks) or (hi - lo) - covered > LONE_SLACK
                or other > max(LONE_OTHER, 2 * (hi - lo))):
            return []
        out += [{side: t.text, f"{side}_time": _iso(t.when), "only_in": side} for t in toks]
    return out[:MAX_LISTED]


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

    def bracketed(self, x: Token, y: Token) -> bool:
        """Builds far apart, the earlier one known only by its epoch (`check --against` an
        image published months ago): the later value is at its own build's time, and the
        earlier lies between the earliest SOURCE_DATE_EPOCH and it (a clock read after the
        source was dated and before the rebuild)."""
        lo = min(self.epochs, default=0)
        if lo < MIN_PLAUSIBLE:
            return False
        (early, _), (late, side) = sorted(((x, 0), (y, 1)), key=lambda p: p[0].when)
        return self._near(late, self.sides[side]) and lo - ANCHOR_WINDOW <= early.when <= late.when

    def self_evident(self, x: Token, y: Token) -> bool:
        gap = abs(y.when - x.when)
        return all(gap <= SELF_RATIO * abs(t.when - e) for t in (x, y) for e in (0, *self.epochs))

    def convincing(self, x: Token, y: Token) -> bool:
        if x.kind == TIME_OF_DAY or y.kind == TIME_OF_DAY:
            return x.kind == y.kind
        if self.each_at_its_build(x, y) or self.bracketed(x, y):
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
        lone = lone_stamps(a, b, rs)
        return {"timestamps": lone, "only_timestamps": False} if lone else {}

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
