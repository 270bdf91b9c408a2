"""Explain findings: attach a cause id and a fix hint where a catalogue rule matches, and
what a look inside the two versions of a differing file found.

    findings = explain(findings, contents=lookup, source_date_epoch=epoch_or_None)

`explain` returns one Finding per input Finding, in the same order, with the same kind,
field, platform, layer, instruction, path, a and b: it never drops, merges or hides a
difference. Findings no rule explains keep `cause` None (renderers show them as
unexplained) but still get what the looks found (a text diff, header fields). A finding
that already has a cause is returned unchanged.

The detail of a finding keeps every key the differ set; the looks only add keys:
`format` and that format module's keys (see `repro.explain.formats`), `timestamps` /
`only_timestamps` or `random` from the heuristics (see `repro.explain.heuristics`).
"""

from __future__ import annotations

import time
from types import MappingProxyType
from typing import Callable, Iterable, Optional

from repro.diff.finding import Finding
from repro.explain import formats
from repro.explain.catalogue import BY_ID, CATALOGUE, Cause, Rule, Subject, match

ContentLookup = Callable[[Finding], "tuple[Optional[bytes], Optional[bytes]]"]


def explain(
    findings: Iterable[Finding],
    *,
    contents: ContentLookup | None = None,
    source_date_epoch: int | None = None,
    builder_versions: tuple[str | None, str | None] | None = None,
    now: float | None = None,
) -> list[Finding]:
    """Explain every finding (see the module docstring).

    `contents(finding)` returns both sides' bytes of a `kind=file, field=content` finding
    (None for a side that is absent or too large); it is called for those findings only.
    `source_date_epoch` is the build's SOURCE_DATE_EPOCH, if known: it separates
    `mtime-older-than-epoch` from `file-mtime` and anchors the timestamp heuristic.
    `builder_versions` are the two builds' BuildKit versions, if known; when they differ,
    findings nothing else explains get `builder-version`. `now` is for tests.
    """
    ctx = formats.context(time.time() if now is None else now, source_date_epoch)
    findings = list(findings)
    packaging = packaging_only(findings)
    return [
        _explain_one(f, contents, ctx, source_date_epoch, builder_versions, packaging) for f in findings
    ]


_PACKAGING_FIELDS = frozenset({"media_type", "compression", "annotations", "digest"})


def packaging_only(findings: list[Finding]) -> bool:
    """Whether two images differ only in how they are packaged: every finding is a media
    type, a layer's compression (diffID equal), an annotation or a digest whose document
    is otherwise equal — nothing in a file, a layer's content or the config — and at
    least one media type is Docker's on one side and OCI's on the other."""
    crossing = False
    for f in findings:
        if f.kind == "file" or f.field not in _PACKAGING_FIELDS or f.detail.get("role") == "attestation":
            return False
        if f.field == "media_type":
            families = {("docker" if "vnd.docker." in str(v) else "oci" if "vnd.oci." in str(v) else "?")
                        for v in (f.a, f.b)}
            crossing = crossing or families == {"docker", "oci"}
    return crossing


def _explain_one(
    f: Finding,
    contents: ContentLookup | None,
    ctx: formats.LookContext,
    source_date_epoch: int | None,
    builder_versions: tuple[str | None, str | None] | None,
    packaging: bool = False,
) -> Finding:
    if f.cause is not None:
        return f
    looked: dict = {}
    if contents is not None and f.kind == "file" and f.field == "content":
        a, b = contents(f)
        if a is not None and b is not None and a != b:
            looked = formats.look_inside(f.path, bytes(a), bytes(b), ctx)
    detail = {**looked, **dict(f.detail)}  # the differ's own keys win
    cause = match(Subject(f, detail, source_date_epoch, builder_versions, packaging))
    if cause is None and not looked:
        return f
    return f.with_(
        cause=cause.id if cause else None,
        hint=cause.hint if cause else f.hint,
        detail=MappingProxyType(detail),
    )


__all__ = ["BY_ID", "CATALOGUE", "Cause", "Rule", "Subject", "explain", "match", "packaging_only"]
