"""What every format module shares: the declarative matcher, the look context, the guard.

A format module declares how it is recognised (`FORMAT = Format(name, globs, magic,
look)`) and the engine in `formats/__init__.py` finds and runs it. A look compares the two
sides' bytes of one differing file and returns a JSON-ready dict for `Finding.detail`, or
None when the bytes are not what the module expected. Looks are bounded (sizes, counts,
inflated bytes) and never raise: garbage in, nothing out.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable, Optional

from repro.explain.globs import any_match
from repro.explain.heuristics import Clock

Detail = dict[str, Any]
LookFn = Callable[[str, bytes, bytes, "LookContext"], Optional[Detail]]

MAX_DEPTH = 2  # a .tar.gz is depth 1 (gzip) then 2 (tar); nothing deeper is opened


@dataclass(frozen=True)
class LookContext:
    """What a look may need beyond the bytes: the times the heuristics judge dates
    against (`Clock`) and a way to look inside a payload (gzip → tar, ...) one level
    deeper."""

    clock: Clock = Clock()
    depth: int = 0
    recurse: Callable[[str, bytes, bytes, "LookContext"], Detail] | None = None

    def nested(self, name: str, a: bytes, b: bytes) -> Detail:
        """Look inside a payload one level deeper; {} when too deep or nothing is found."""
        if self.recurse is None or self.depth + 1 > MAX_DEPTH:
            return {}
        deeper = LookContext(self.clock, self.depth + 1, self.recurse)
        return self.recurse(name, a, b, deeper)


@dataclass(frozen=True)
class Format:
    """How a format is recognised and looked at.

    A file is offered to `look` when its path matches one of `globs`, or both sides start
    with one of `magic` (at `magic_offset`), or always when `any_file` (the text
    fallback, which sniffs the bytes itself). `compressed` formats get no content
    heuristics on their raw bytes (compressed bytes look random and hold no dates).
    """

    name: str
    look: LookFn
    globs: tuple[str, ...] = ()
    magic: tuple[bytes, ...] = ()
    magic_offset: int = 0
    compressed: bool = False
    any_file: bool = False

    def matches(self, path: str | None, a: bytes, b: bytes) -> bool:
        if self.any_file:
            return True
        if any_match(self.globs, path):
            return True
        o = self.magic_offset
        return any(a[o : o + len(m)] == m and b[o : o + len(m)] == m for m in self.magic)


def guarded(fn: LookFn) -> LookFn:
    """A look that fails adds nothing: any exception becomes None."""

    @functools.wraps(fn)
    def wrapper(path: str, a: bytes, b: bytes, ctx: LookContext) -> Detail | None:
        try:
            return fn(path, a, b, ctx)
        except Exception:  # noqa: BLE001 - garbage input must never stop a report
            return None

    return wrapper


def pair(a: Any, b: Any) -> dict[str, Any]:
    """The shape every module uses for one differing value: {"a": ..., "b": ...}."""
    return {"a": a, "b": b}
