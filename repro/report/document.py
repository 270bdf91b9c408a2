"""The report document (schema `repro-report/v1`), built once from a DiffResult.

Every renderer (text, json, markdown, html) reads this one document, so they can never
disagree, and a saved JSON report can be rendered again later. Fields are only ever
added in v1, never renamed or removed (docs/report-format.md).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Mapping

from repro import __version__
from repro.diff.engine import DiffResult, LayerPair, PlatformResult
from repro.diff.finding import Finding

SCHEMA = "repro-report/v1"


def _layer_side(layer: Any) -> dict[str, Any] | None:
    if layer is None:
        return None
    d = layer.descriptor
    return {"digest": d.digest, "diff_id": layer.diff_id, "media_type": d.media_type, "size": d.size}


def _layer_json(p: LayerPair) -> dict[str, Any]:
    return {"index": p.index, "instruction": p.instruction, "status": p.status,
            "a": _layer_side(p.a), "b": _layer_side(p.b)}


def _platform_json(p: PlatformResult) -> dict[str, Any]:
    def side(m: Any) -> dict[str, Any] | None:
        if m is None:
            return None
        return {"manifest": m.descriptor.digest, "config": m.config_descriptor.digest,
                "media_type": m.descriptor.media_type, "layers": len(m.layers)}

    return {"platform": p.platform, "role": p.role, "equal": p.equal, "merged": p.merged,
            "a": side(p.a), "b": side(p.b), "layers": [_layer_json(l) for l in p.layers]}


def build_report(result: DiffResult, *, build: Mapping[str, Any] | None = None,
                 findings: tuple[Finding, ...] | None = None, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The v1 document. `findings` overrides result.findings (e.g. after explaining)."""
    fs = result.findings if findings is None else findings
    by_kind = Counter(f.kind for f in fs)
    by_cause = Counter(f.cause or "unexplained" for f in fs)
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "tool": {"name": "repro", "version": __version__},
        "verdict": "reproducible" if not fs else "not-reproducible",
        "inputs": [{"ref": img.ref, "kind": img.kind, "digest": img.digest} for img in (result.a, result.b)],
    }
    if build is not None:
        doc["build"] = dict(build)
    doc["policy"] = result.policy.to_json()
    doc["summary"] = {
        "findings": len(fs),
        "by_kind": dict(sorted(by_kind.items())),
        "by_cause": dict(sorted(by_cause.items())),
        "ignored": len(result.ignored),
        "platforms": len([p for p in result.platforms if p.role == "image"]),
        "merged_comparison": any(p.merged for p in result.platforms),
    }
    doc["platforms"] = [_platform_json(p) for p in result.platforms]
    doc["findings"] = [f.to_json() for f in fs]
    doc["ignored"] = [{**f.to_json(), "reason": why} for f, why in result.ignored]
    if extra:
        doc.update(extra)
    return doc
