"""The vocabulary of the cause catalogue: causes, the rules that recognise them, the
commands that produce them, and the predicates rules are written with.

A `Rule` keys on the finding's kind, its field (globs), its path (globs, see
`repro.explain.globs`) and, where that is not enough, a predicate over a `Subject`: the
finding, its detail merged with what the format looks and the heuristics found, and the
`ExplainContext`. Each rule belongs to one `stage` of the order of evidence (see
`repro.explain.decide`).

A `Command` is a regular expression over one shell segment of the RUN instruction that
made the file (see `repro.explain.commands`): it names the part of the command to blame,
and can decide the cause when the segment also names the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping

from repro.diff.finding import Finding
from repro.explain.context import ExplainContext
from repro.explain.globs import any_match

# The stages of evidence, strongest first (`experiment` is applied on top of them).
ROLE, PATH, FORMAT, INSTRUCTION, CONTENT, FIELD, FALLBACK = (
    "role", "path", "format", "instruction", "content", "field", "fallback")
STAGES = (ROLE, PATH, FORMAT, INSTRUCTION, CONTENT, FIELD, FALLBACK)


@dataclass(frozen=True)
class Subject:
    """What a rule may look at."""

    finding: Finding
    detail: Mapping[str, Any]  # the finding's detail plus what the looks inside found
    context: ExplainContext = field(default_factory=ExplainContext)


Predicate = Callable[[Subject], bool]


@dataclass(frozen=True)
class Rule:
    stage: str
    kinds: tuple[str, ...] = ()  # finding kinds; empty: any
    fields: tuple[str, ...] = ()  # globs over the finding's field; empty: any
    paths: tuple[str, ...] = ()  # globs over the finding's path; empty: path not looked at
    when: Predicate | None = None

    def matches(self, s: Subject) -> bool:
        f = s.finding
        return (
            (not self.kinds or f.kind in self.kinds)
            and (not self.fields or any_match(self.fields, f.field))
            and (not self.paths or any_match(self.paths, f.path))
            and (self.when is None or bool(self.when(s)))
        )


@dataclass(frozen=True)
class Command:
    """A command known to cause this, as a regex over one shell segment."""

    pattern: str
    paths: tuple[str, ...] = ()  # the files it can explain (globs); empty: any file
    hint: str | None = None  # a fix specific to this command; else the cause's hint
    decides: bool = True  # False: only quoted in hints, never decides a cause alone

    @property
    def regex(self) -> re.Pattern[str]:
        return _compiled(self.pattern)


_CACHE: dict[str, re.Pattern[str]] = {}


def _compiled(pattern: str) -> re.Pattern[str]:
    rx = _CACHE.get(pattern)
    if rx is None:
        rx = _CACHE[pattern] = re.compile(pattern)
    return rx


@dataclass(frozen=True)
class Cause:
    id: str  # stable: reports and users' tooling key on it
    title: str  # what the diff shows
    why: str
    hint: str  # the fix
    rules: tuple[Rule, ...] = ()
    commands: tuple[Command, ...] = ()
    example: str = ""  # a line of a Dockerfile that shows it (docs/causes.md)


@dataclass(frozen=True)
class Experiment:
    """What `check --bisect` attributing a finding to a variation settles: the causes
    that variation can provoke (a heuristic cause among them is kept, as it is more
    precise) and the cause given when the heuristic found another or none."""

    variations: tuple[str, ...]  # names in Finding.provoked_by (aliases included)
    causes: tuple[str, ...]
    default: str


# --- predicates ------------------------------------------------------------------------


def _looks(detail: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """The detail, then the payload looks nested in it (gzip → tar → ...)."""
    d: Any = detail
    for _ in range(4):
        if not isinstance(d, Mapping):
            return
        yield d
        d = d.get("payload")


def looked(fmt: str, test: Callable[[Mapping[str, Any]], Any]) -> Predicate:
    """Some look of format `fmt` (at any payload depth) satisfies `test`."""
    return lambda s: any(d.get("format") == fmt and test(d) for d in _looks(s.detail))


def found(key: str) -> Predicate:
    """Some look (at any payload depth) set a non-empty `key`."""
    return lambda s: any(d.get(key) for d in _looks(s.detail))


def not_(p: Predicate) -> Predicate:
    return lambda s: not p(s)


def all_(*ps: Predicate) -> Predicate:
    return lambda s: all(p(s) for p in ps)


def instruction_runs(pattern: str) -> Predicate:
    """Some segment of the instruction that made the file matches `pattern`."""
    from repro.explain.commands import segments

    rx = re.compile(pattern)
    return lambda s: any(rx.search(seg) for seg in segments(s.finding.instruction))


def _mentions(value: Any, text: str, depth: int = 0) -> bool:
    if depth > 6:
        return False
    if isinstance(value, str):
        return text in value
    if isinstance(value, Mapping):
        return any(_mentions(k, text, depth + 1) or _mentions(v, text, depth + 1)
                   for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_mentions(v, text, depth + 1) for v in value)
    return False


def detail_is(key: str, *values: Any) -> Predicate:
    """The finding's detail has `key` set to one of `values` (the differ names the one
    annotation or history key a finding is about in detail["key"])."""
    return lambda s: s.detail.get(key) in values


ATTESTATION_KEYS = ("vnd.docker.reference.type", "vnd.docker.reference.digest")


def is_attestation(s: Subject) -> bool:
    f = s.finding
    return (
        s.detail.get("role") == "attestation"
        or (f.field == "annotations" and s.detail.get("key") in ATTESTATION_KEYS)
        or (f.kind == "index" and (_mentions(f.a, "attestation-manifest")
                                   or _mentions(f.b, "attestation-manifest")))
    )


def _differing_keys(a: Any, b: Any) -> set[str] | None:
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return {str(k) for k in {*a, *b} if a.get(k) != b.get(k)}
    if (isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and len(a) == len(b)):
        keys: set[str] = set()
        for x, y in zip(a, b):
            d = _differing_keys(x, y)
            if d is None:
                return None
            keys |= d
        return keys
    return None


def differs_only_in(*keys: str) -> Predicate:
    """a/b are objects (or equal-length lists of objects) that differ only in `keys`."""

    def test(s: Subject) -> bool:
        d = _differing_keys(s.finding.a, s.finding.b)
        return bool(d) and d <= set(keys)

    return test


def changed_lines(detail: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """The removed and added lines of the text look's unified diff."""
    removed, added = [], []
    for line in str(detail.get("diff") or "").splitlines():
        if line.startswith(("---", "+++")):
            continue
        if line.startswith("-"):
            removed.append(line[1:])
        elif line.startswith("+"):
            added.append(line[1:])
    return removed, added


def changed_line_matches(pattern: str) -> Predicate:
    rx = re.compile(pattern)
    return lambda s: any(rx.search(x) for side in changed_lines(s.detail) for x in side)


def one_side_mentions(pattern: str) -> Predicate:
    """Changed lines on one side only match `pattern` (a default hostname, say)."""
    rx = re.compile(pattern)

    def test(s: Subject) -> bool:
        removed, added = changed_lines(s.detail)
        in_a, in_b = any(rx.search(x) for x in removed), any(rx.search(x) for x in added)
        return in_a != in_b

    return test


def _shadow_fields_only(*indexes: int) -> Predicate:
    """Every changed line of a shadow file differs only in the given fields."""

    def test(s: Subject) -> bool:
        removed, added = changed_lines(s.detail)
        if not removed or len(removed) != len(added) or s.detail.get("diff_truncated"):
            return False
        for x, y in zip(removed, added):
            fx, fy = x.split(":"), y.split(":")
            if len(fx) != len(fy) or len(fx) < 3:
                return False
            if any(fx[i] != fy[i] for i in range(len(fx)) if i not in indexes):
                return False
        return True

    return test


shadow_lastchange_only = _shadow_fields_only(2)


def shadow_hash_changed(s: Subject) -> bool:
    """Some changed line of a shadow file has a new password hash (`$id$salt$hash`)."""
    removed, added = changed_lines(s.detail)
    for x, y in zip(removed, added):
        fx, fy = x.split(":"), y.split(":")
        if len(fx) > 2 and len(fy) > 2 and fx[0] == fy[0] and fx[1] != fy[1] \
                and fx[1].startswith("$") and fy[1].startswith("$"):
            return True
    return False


def _seconds(v: Any) -> float | None:
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def both_older_than_epoch(s: Subject) -> bool:
    """Both mtimes at or below their side's epoch, at least one below it.
    rewrite-timestamp clamps newer times to exactly the epoch, so an old mtime from one
    checkout against a clamped fresh one from another is the same cause: the old time
    passed through."""
    ea, eb = s.context.epoch(0), s.context.epoch(1)
    a, b = _seconds(s.finding.a), _seconds(s.finding.b)
    if ea is None or eb is None or a is None or b is None:
        return False
    return a <= ea and b <= eb and (a < ea or b < eb)


def hardlink(s: Subject) -> bool:
    f = s.finding
    if f.field == "type":
        return "hardlink" in (f.a, f.b)
    return s.detail.get("type") == "hardlink" or "hardlink" in (
        s.detail.get("type_a"), s.detail.get("type_b"))


def builder_versions_differ(s: Subject) -> bool:
    v = s.context.builder_versions
    return bool(v and v[0] and v[1] and v[0] != v[1])
