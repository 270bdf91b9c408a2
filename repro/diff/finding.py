"""The flat record every comparison produces, and every renderer reads."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Mapping

KINDS = ("index", "manifest", "config", "layer", "file")


@dataclass(frozen=True)
class Finding:
    """One difference between image A and image B.

    Findings are leaves: a digest difference is only reported where nothing below it
    (fields, layers, files) explains it. `a`/`b` are JSON-ready values; `presence`
    findings carry booleans.
    """

    kind: str  # index | manifest | config | layer | file
    field: str  # content | mtime | mode | ... | <config key> (see docs/report-format.md)
    platform: str | None = None
    layer: int | None = None  # 0-based index in the manifest's layers
    instruction: str | None = None  # the history entry that made the layer
    path: str | None = None  # file path without leading "/" or "./"
    a: Any = None
    b: Any = None
    cause: str | None = None  # cause id from the catalogue (repro/explain), None = unexplained
    hint: str | None = None
    detail: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    # `check --bisect`: the variations whose experiment builds reproduce this finding
    # (names from repro.buildkit.variations); () = it differs with no variation at all;
    # None = not attributed (no --bisect, or not a check)
    provoked_by: tuple[str, ...] | None = None

    def with_(self, **changes: Any) -> "Finding":
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "field": self.field}
        for name in ("platform", "layer", "instruction", "path"):
            v = getattr(self, name)
            if v is not None:
                out[name] = jsonable(v)
        out["a"] = jsonable(self.a)
        out["b"] = jsonable(self.b)
        if self.cause is not None:
            out["cause"] = self.cause
        if self.hint is not None:
            out["hint"] = self.hint
        out["detail"] = jsonable(self.detail)
        if self.provoked_by is not None:  # check --bisect (docs/report-format.md)
            out["provoked_by"] = list(self.provoked_by)
        return out


def jsonable(obj: Any) -> Any:
    """JSON-ready and encodable: keys and strings printable, bytes decoded with escapes, and
    a non-finite float (which strict JSON cannot spell) as its name."""
    kind = type(obj)
    if kind is str:  # the common leaves first: isinstance against the Mapping ABC is slow
        return printable(obj)
    if kind is int or kind is bool or obj is None:
        return obj
    if isinstance(obj, Mapping):
        return {printable(str(k)): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, bytes):
        return printable(obj.decode("utf-8", "surrogateescape"))
    if isinstance(obj, str):
        return printable(obj)
    if isinstance(obj, float) and not math.isfinite(obj):
        return "NaN" if math.isnan(obj) else ("Infinity" if obj > 0 else "-Infinity")
    return obj


def printable(s: str) -> str:
    """A string that encodes as UTF-8. A name from a tar may hold bytes that are not UTF-8
    (kept as surrogate escapes, U+DC80-U+DCFF): they become `\\xNN`. Any other lone
    surrogate (JSON can spell one, `"\\ud800"`) becomes `\\ud800`. Everything else is kept:
    escaping control characters is each renderer's job (repro/report/escape.py)."""
    if s.isascii():  # O(1) for CPython's compact strings
        return s
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        return _SURROGATE.sub(_surrogate, s)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _surrogate(m: re.Match[str]) -> str:
    c = ord(m.group())
    return f"\\x{c - 0xDC00:02x}" if 0xDC80 <= c <= 0xDCFF else f"\\u{c:04x}"
