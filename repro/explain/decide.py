"""How a cause is decided: the order of evidence.

1. **experiment** — `check --bisect` attributed the finding to variations
   (`Finding.provoked_by`): the causes those variations can provoke are the only ones
   allowed. The cause the evidence below finds is kept when it is one of them (it is
   more precise); otherwise the variation's own cause is given (time makes a finding
   `embedded-timestamp` even when no date is seen in the bytes).
2. **role** — anything inside an attestation manifest is the attestation.
3. **path** — rules on well-known files (package manager logs, caches, keys, ids).
4. **format** — what a look inside the file found (pyc header, gzip header, nested tar
   or zip metadata, ELF build id).
5. **instruction** — a shell segment of the RUN that made the file both names the file
   and runs a command known to cause something (`date > /f`, `head -c 8 /dev/urandom >
   /f`). When segments blame several causes, the content heuristic picks among them.
6. **content** — the heuristics: dates, random values, reordered lines, in the content,
   in the names of files that appear on one side only, in link targets.
7. **instruction (step)** — a command known to cause something ran in the same step,
   without naming the file, and only one such cause is blamed there.
8. **field** — what the kind of difference itself says (mtime, ownership, created,
   compression, order, media types, ...).
9. **fallback** — two BuildKit versions.
10. otherwise `unknown`.
"""

from __future__ import annotations

from dataclasses import dataclass

from repro.explain import commands as cmds
from repro.explain.catalogue import BY_ID, BY_VARIATION, CATALOGUE, NO_VARIATION
from repro.explain.globs import any_match
from repro.explain.rules import (
    CONTENT, FALLBACK, FIELD, FORMAT, INSTRUCTION, PATH, ROLE, Cause, Command, Experiment, Subject,
)

EXPERIMENT = "experiment"
STEP = "instruction-step"
NONE = "none"
INSTRUCTION_FIELDS = ("content", "size", "presence", "linkname")
UNKNOWN = BY_ID["unknown"]


@dataclass(frozen=True)
class Verdict:
    cause: Cause
    stage: str  # the evidence that decided (see the module docstring)
    blame: cmds.Blame | None = None  # the segment of the instruction to quote
    command: Command | None = None  # the command rule that segment matched


def _first(stage: str, s: Subject) -> Cause | None:
    for cause in CATALOGUE:
        if any(r.stage == stage and r.matches(s) for r in cause.rules):
            return cause
    return None


def blames(s: Subject, cause: Cause, deciding: bool) -> list[tuple[cmds.Blame, Command]]:
    """The segments of the finding's instruction that the cause's commands match (only
    the commands that may decide, when `deciding`), the ones naming the file best first."""
    f = s.finding
    out: list[tuple[cmds.Blame, Command]] = []
    for c in cause.commands:
        if deciding and not c.decides:
            continue
        if c.paths and not any_match(c.paths, f.path):
            continue
        out += [(b, c) for b in cmds.find(c.regex, f.instruction, f.path)]
    out.sort(key=lambda bc: -bc[0].naming)
    return out


def by_evidence(s: Subject) -> Verdict:
    """The cause the evidence gives, without the experiment."""
    for stage in (ROLE, PATH, FORMAT):
        c = _first(stage, s)
        if c is not None:
            return Verdict(c, stage)
    f = s.finding
    instructed = f.kind == "file" and f.field in INSTRUCTION_FIELDS and bool(cmds.segments(f.instruction))
    named: dict[str, tuple[Cause, cmds.Blame, Command]] = {}
    step: dict[str, tuple[Cause, cmds.Blame, Command]] = {}
    if instructed:
        for cause in CATALOGUE:
            hits = blames(s, cause, deciding=True)
            if hits:
                b, c = hits[0]
                (named if b.specific else step)[cause.id] = (cause, b, c)
    content = _first(CONTENT, s)
    if named:
        best = max(b.naming for _, b, _ in named.values())
        top = [v for v in named.values() if v[1].naming == best]
        if content is not None and content.id in named:
            cause, b, c = named[content.id]
            return Verdict(cause, INSTRUCTION, b, c)
        cause, b, c = top[0]
        return Verdict(cause, INSTRUCTION, b, c)
    if content is not None:
        return Verdict(content, CONTENT)
    if len(step) == 1:
        cause, b, c = next(iter(step.values()))
        return Verdict(cause, STEP, b, c)
    for stage in (FIELD, FALLBACK):
        c = _first(stage, s)
        if c is not None:
            return Verdict(c, stage)
    return Verdict(UNKNOWN, NONE)


def experiment(provoked_by: tuple[str, ...]) -> Experiment | None:
    """What the variations in `provoked_by` settle; None when no name is known."""
    if not provoked_by:
        return NO_VARIATION
    found = [BY_VARIATION[v] for v in provoked_by if v in BY_VARIATION]
    if not found:
        return None
    if len(found) == 1:
        return found[0]
    causes = tuple(dict.fromkeys(c for e in found for c in e.causes))
    return Experiment(tuple(provoked_by), causes, found[0].default)


def decide(s: Subject) -> Verdict:
    base = by_evidence(s)
    provoked = getattr(s.finding, "provoked_by", None)
    if provoked is None:
        return base
    exp = experiment(tuple(provoked))
    if exp is None:
        return base
    if base.cause.id in exp.causes:
        return Verdict(base.cause, f"{EXPERIMENT}+{base.stage}", base.blame, base.command)
    return Verdict(BY_ID[exp.default], EXPERIMENT)
