"""Looking inside two versions of one differing file.

One module per format, each declaring how it is recognised (`FORMAT`: name globs and/or
magic bytes) and how it compares the two sides. `look_inside` offers the bytes to each
format in FORMATS order (the first whose look returns something wins; a look that returns
None passes the file on, so a `.tar` that is really text still gets a text diff), then
adds the content heuristics (`repro.explain.heuristics`) unless the format is compressed.

Keys every look sets in the finding's detail: `format` (the module's name), then the
module's own keys (see each module's docstring and `look`).
"""

from __future__ import annotations

from repro.explain import heuristics
from repro.explain.formats import ar, elf, gz, pyc, tar, text, xz
from repro.explain.formats import zip as zip_
from repro.explain.formats.base import Detail, Format, LookContext

# Name-declared formats first (a pyc has no fixed magic), then magic, then text.
FORMATS: tuple[Format, ...] = (
    pyc.FORMAT, gz.FORMAT, xz.FORMAT, zip_.FORMAT, tar.FORMAT, ar.FORMAT, elf.FORMAT, text.FORMAT,
)


def look_inside(path: str | None, a: bytes, b: bytes, ctx: LookContext) -> Detail:
    """JSON-ready detail about how `a` and `b` differ; {} when nothing is found."""
    detail: Detail = {}
    found: Format | None = None
    for fmt in FORMATS:
        if not fmt.matches(path, a, b):
            continue
        got = fmt.look(path or "", a, b, ctx)
        if got is not None:
            detail = {"format": fmt.name, **got}
            found = fmt
            break
    if found is None or not found.compressed:
        try:
            detail.update(heuristics.examine(
                a, b, ctx.clock, allow_random=found is None or found is text.FORMAT))
        except Exception:  # noqa: BLE001 - a heuristic that fails adds nothing
            pass
    return detail


def context(clock: heuristics.Clock = heuristics.Clock()) -> LookContext:
    """The top-level look context, able to recurse into payloads."""
    return LookContext(clock=clock, depth=0, recurse=look_inside)


__all__ = ["FORMATS", "Format", "LookContext", "context", "look_inside"]
