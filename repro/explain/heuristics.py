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
       ISO 8601 (`2023-11-14T22:13:20Z`, date only too, and `2023-11-14_22-13-20` as
       file names have it), date(1)/ctime (`Tue Nov 14 22:13:20 UTC 2023`), RFC 2822
       (`Tue, 14 Nov 2023 22:13:20 +0000`), the common log format (`14/Nov/2023:22:13:20
       +0000`), `11/14/2023 22:13:20`, C `__DATE__
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
         - *bracketed*: the later is within ANCHOR_WINDOW of its own build's times and the
           earlier lies between the earliest SOURCE_DATE_EPOCH and it (`check --against`
           an image published months ago, which records only its epoch), or
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
         b. some pair is convincing (`only_timestamps` false: something else differs too),
            or
         c. there is no pair, but each of at most LONE_REGIONS regions holds on one side
            only written date-times with a time of day (at most LONE_SLACK bytes of label
            beside them) and on the other no date-like token and at most LONE_OTHER bytes:
            a stamp one build wrote where the other wrote something short or nothing
            (`timestamps` entries then have only the side's own keys and `only_in`).

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
    or a changed word does not. A large file that differs in too many places for spans
    (more than MAX_DIFF_BYTES) is random when a SAMPLE of it has about 1/256 equal bytes
    and close to 8 bits of entropy per byte. `clock`-free: a 10-digit random number far from any
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

from collections import Counter
from typing import Any

from repro.explain.randomness import (
    COMPRESSED_MAGIC, MAX_SPANS, MIN_BITS, SAMPLE, SMALL_FILE, alphabet, binomial_tail, entropy,
    looks_random, random_content, random_strings,
)
from repro.explain.regions import MAX_DIFF_BYTES, MAX_LINES, MAX_REGIONS, MERGE_GAP, Region, looks_text, regions
from repro.explain.timestamps import (
    ANCHOR_WINDOW, MAX_LISTED, MAX_PLAUSIBLE, MIN_PLAUSIBLE, PAIR_WINDOW, SELF_RATIO, Clock, Token,
    embedded_timestamp, timestamps_in, tokens,
)

MAX_SCAN = 4 << 20
MIN_REORDERED = 2

def reordered(a: bytes, b: bytes) -> dict[str, Any]:
    """`reordered` when both sides are text holding the same lines in another order."""
    if a == b or not (looks_text(a) and looks_text(b)):
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
        return random_content(a, b, None) if allow_random else {}
    found = embedded_timestamp(a, b, rs, clock)
    if found or not allow_random:
        return found
    return random_content(a, b, rs)


# one place for the heuristics' names (the modules above hold the code)
__all__ = [
    "ANCHOR_WINDOW", "COMPRESSED_MAGIC", "MAX_DIFF_BYTES", "MAX_LINES", "MAX_LISTED", "MAX_PLAUSIBLE",
    "MAX_REGIONS", "MAX_SCAN", "MAX_SPANS", "MERGE_GAP", "MIN_BITS", "MIN_PLAUSIBLE", "MIN_REORDERED",
    "PAIR_WINDOW", "SAMPLE", "SELF_RATIO", "SMALL_FILE", "Clock", "Region", "Token", "alphabet",
    "binomial_tail", "embedded_timestamp", "entropy", "examine", "looks_random", "random_content",
    "random_strings", "regions", "reordered", "timestamps_in", "tokens",
]
