"""The flat record every comparison produces, and every renderer reads."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Mapping

from repro.oci.model import printable  # re-exported: renderers escape names with it

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

    def with_(self, **changes: Any) -> "Finding":
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "field": self.field}
        for name in ("platform", "layer", "instruction", "path"):
            v = getattr(self, name)
            if v is not None:
                out[name] = _plain(v)
        out["a"] = _plain(self.a)
        out["b"] = _plain(self.b)
        if self.cause is not None:
            out["cause"] = self.cause
        if self.hint is not None:
            out["hint"] = self.hint
        out["detail"] = _plain(self.detail)
        return out


def _plain(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, bytes):
        return obj.decode("utf-8", "backslashreplace")
    if isinstance(obj, str):
        return printable(obj)
    return obj
