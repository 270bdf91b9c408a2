"""Explain findings: give every finding a cause id (at worst `unknown`) and a hint, and
say what a look inside the two versions of a differing file found.

    findings = explain(findings, contents=lookup, context=ExplainContext(...))

`explain` is a pure function of the findings, their bytes and the context: it reads no
clock and no file, so the same two images get the same causes whatever day they are
compared. It returns one Finding per input Finding, in the same order, with the same
kind, field, platform, layer, instruction, path, a and b: it never drops, merges or hides
a difference. A finding that already has a cause is returned unchanged.

How a cause is decided is `repro.explain.decide` (experiment, path rule, format
drill-down, instruction, content heuristic, field rule); the causes are the data in
`repro.explain.catalogue`. The hint quotes the part of the RUN command to blame when one
is found (`` `date +%s > /data/stamp.txt`: ... ``); an `unknown` finding's hint gives the
diffoscope command for the file and where --report-dir puts both sides.

The detail of a finding keeps every key the differ set; explain only adds keys: `format`
and that format module's keys (see `repro.explain.formats`), `timestamps` /
`only_timestamps`, `random` or `reordered` from the heuristics (see
`repro.explain.heuristics`), `paired_with` for a file present on one side only whose
name differs from one on the other side only by a date or a random part, and
`evidence`: the stage that decided the cause.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Callable, Iterable, Optional

from repro.diff.finding import Finding, printable
from repro.explain import commands as cmds
from repro.explain import formats, heuristics
from repro.explain.catalogue import BY_ID, CATALOGUE
from repro.explain.context import ExplainContext, ImageTimes, shell_join
from repro.explain.decide import Verdict, blames, decide
from repro.explain.names import pair_names
from repro.explain.packaging import packaging_only
from repro.explain.rules import Cause, Rule, Subject

ContentLookup = Callable[[Finding], "tuple[Optional[bytes], Optional[bytes]]"]

MAX_ANCHORS = 4096
UNKNOWN_DIR = "repro-report"  # the --report-dir a hint suggests when none was given


def explain(
    findings: Iterable[Finding],
    *,
    contents: ContentLookup | None = None,
    context: ExplainContext | None = None,
    source_date_epoch: int | None = None,
    builder_versions: tuple[str | None, str | None] | None = None,
) -> list[Finding]:
    """Explain every finding (see the module docstring).

    `contents(finding)` returns both sides' bytes of a `kind=file, field=content` finding
    (None for a side that is absent or too large); it is called for those findings only.
    `context` says what is known about the builds and images (see ExplainContext);
    `source_date_epoch` and `builder_versions` are shortcuts that fill it.
    """
    ctx = context or ExplainContext()
    if source_date_epoch is not None or builder_versions is not None:
        from dataclasses import replace

        ctx = replace(ctx, source_date_epoch=source_date_epoch if source_date_epoch is not None
                      else ctx.source_date_epoch,
                      builder_versions=builder_versions or ctx.builder_versions)
    todo = list(findings)
    ctx = ctx.with_file_times(*_mtime_anchors(todo))
    if packaging_only(todo):
        from dataclasses import replace

        ctx = replace(ctx, packaging_only=True)
    base_clock = heuristics.Clock(anchors=ctx.anchors(), epochs=ctx.epochs(),
                                  sides=(ctx.anchors(0), ctx.anchors(1)))
    names = pair_names(todo, base_clock)
    return [_explain_one(f, i, contents, ctx, base_clock, names) for i, f in enumerate(todo)]


def _mtime_anchors(findings: list[Finding]) -> tuple[set[float], set[float]]:
    """mtimes the differ saw differ, per side: unclamped file times are times the build ran."""
    out: tuple[set[float], set[float]] = (set(), set())
    for f in findings:
        if f.kind == "file" and f.field == "mtime":
            for side, v in enumerate((f.a, f.b)):
                try:
                    t = float(v)
                except (TypeError, ValueError):
                    continue
                if heuristics.MIN_PLAUSIBLE <= t <= heuristics.MAX_PLAUSIBLE:
                    out[side].add(float(int(t) // 60 * 60))  # a minute is fine for a 2-day window
        if len(out[0]) + len(out[1]) >= MAX_ANCHORS:
            break
    return out


def _reads_clock(f: Finding) -> bool:
    cause = BY_ID["embedded-timestamp"]
    return any(c.decides and any(c.regex.search(s) for s in cmds.segments(f.instruction))
               for c in cause.commands)


def _explain_one(f: Finding, index: int, contents: ContentLookup | None, ctx: ExplainContext,
                 base_clock: heuristics.Clock, names: dict[int, dict[str, Any]]) -> Finding:
    if f.cause is not None:
        return f
    clock = base_clock
    if f.kind == "file" and _reads_clock(f):
        clock = heuristics.Clock(base_clock.anchors, base_clock.epochs, clock=True, sides=base_clock.sides)
    looked: dict[str, Any] = dict(names.get(index, {}))
    if f.kind == "file" and f.field == "content" and contents is not None:
        a, b = contents(f)
        if a is not None and b is not None and a != b:
            looked.update(formats.look_inside(f.path, bytes(a), bytes(b), formats.context(clock)))
    elif f.kind == "file" and f.field == "linkname" and isinstance(f.a, str) and isinstance(f.b, str):
        found = heuristics.timestamps_in(f.a, f.b, clock)
        if found:
            looked["timestamps"] = found
        else:
            rnd = heuristics.random_strings(f.a, f.b)
            if rnd:
                looked["random"] = rnd
    detail = {**looked, **dict(f.detail)}  # the differ's own keys win
    subject = Subject(f, detail, ctx)
    verdict = decide(subject)
    detail["evidence"] = verdict.stage
    # names from an image may not be UTF-8: the hint quotes them as \xNN, as reports do
    return f.with_(cause=verdict.cause.id, hint=printable(hint(verdict, subject)), detail=MappingProxyType(detail))


def hint(v: Verdict, s: Subject) -> str:
    """The fix, quoting the segment of the instruction to blame when there is one."""
    if v.cause.id == "unknown":
        return unknown_hint(s.finding, s.context)
    blame, command = v.blame, v.command
    if blame is None:
        hits = blames(s, v.cause, deciding=False)
        if hits:
            blame, command = hits[0]
    text = (command.hint if command is not None and command.hint else None) or v.cause.hint
    if blame is None:
        return text
    return f"{span(cmds.quote(blame.segment))}: {text}"


def span(text: str) -> str:
    """Text from an image as a code span of a hint: hints are our prose, and everything in
    them that comes from an image is in backticks (renderers show it as code, never as
    markup), with its own backticks turned into quotes so that it cannot close the span."""
    return "`" + text.replace("`", "'") + "`"


def unknown_hint(f: Finding, ctx: ExplainContext) -> str:
    """What to run to see the difference yourself: diffoscope on both sides of the file,
    which --report-dir writes out; diffoscope on both images for other findings."""
    if f.kind != "file" or not f.path:
        if ctx.refs:
            return f"no known cause: compare the two values above, or both images: {span(shell_join('diffoscope', *ctx.refs))}"
        return "no known cause: compare the two values above"
    where = ctx.report_paths(f.platform, f.path)
    given = where is not None
    if where is None:
        probe = ExplainContext(report_dir=UNKNOWN_DIR, platform_dirs=ctx.platform_dirs)
        where = probe.report_paths(f.platform, f.path)
    assert where is not None
    pa, pb = where
    if f.field == "presence":
        path = pa if f.a else pb
        side = "A" if f.a else "B"
        if given:
            return f"no known cause; the file, only in {side}, is at {span(path)}"
        return f"no known cause; `--report-dir {UNKNOWN_DIR}` writes the file, only in {side}, to {span(path)}"
    cmd = span(shell_join("diffoscope", pa, pb))
    if given:
        return f"no known cause: {cmd} (both sides are in {span(pa)} and {span(pb)})"
    return f"no known cause: `--report-dir {UNKNOWN_DIR}` writes both sides to {span(pa)} and {span(pb)}; then {cmd}"


__all__ = ["BY_ID", "CATALOGUE", "Cause", "ExplainContext", "ImageTimes", "Rule", "Subject", "explain",
           "packaging_only"]
