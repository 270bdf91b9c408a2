"""One report for `check --bake`: every target's report in one document.

The document is a repro-report/v1 document whose verdict, summary, platforms and
findings cover all targets, so every renderer shows it as it is: each `platforms[]`
entry and each finding has `target` (the bake target's name) and its `platform` is
prefixed with it (`app: linux/amd64`), which puts each target's findings under its
name in every format. `targets` lists each target with its verdict and its own whole
report (docs/report-format.md).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Mapping, Sequence


def combine(docs: Sequence[tuple[str, Mapping[str, Any]]],
            ignored_fields: Mapping[str, Sequence[str]] | None = None) -> dict[str, Any]:
    """The bake report of (target name, that target's report document) pairs, in order."""
    if not docs:
        raise ValueError("combine: no targets")
    first = docs[0][1]
    platforms: list[dict[str, Any]] = []
    findings: list[dict[str, Any]] = []
    ignored: list[dict[str, Any]] = []
    for name, doc in docs:
        for p in doc.get("platforms") or []:
            platforms.append({**p, "target": name, "platform": f"{name}: {p['platform']}"})
        for f in doc.get("findings") or []:
            findings.append({**f, "target": name,
                             **({"platform": f"{name}: {f['platform']}"} if f.get("platform") else {})})
        for f in doc.get("ignored") or []:
            ignored.append({**f, "target": name})
    verdict = "reproducible" if all(d["verdict"] == "reproducible" for _, d in docs) else "not-reproducible"
    by_kind = Counter(f["kind"] for f in findings)
    by_cause = Counter(f.get("cause") or "unexplained" for f in findings)
    out: dict[str, Any] = {
        "schema": first["schema"], "tool": first["tool"], "verdict": verdict,
        "inputs": [inp for _, d in docs for inp in d.get("inputs") or []],
    }
    if "build" in first:
        out["build"] = first["build"]
    out["policy"] = first.get("policy")
    out["summary"] = {
        "findings": len(findings), "by_kind": dict(sorted(by_kind.items())),
        "by_cause": dict(sorted(by_cause.items())), "ignored": len(ignored),
        "platforms": len([p for p in platforms if p.get("role") == "image"]),
        "merged_comparison": any(p.get("merged") for p in platforms), "targets": len(docs),
    }
    out["platforms"] = platforms
    out["findings"] = findings
    out["ignored"] = ignored
    out["targets"] = [{"name": name, "verdict": d["verdict"], "findings": d["summary"]["findings"],
                       "ignored_fields": list((ignored_fields or {}).get(name, ())), "report": dict(d)}
                      for name, d in docs]
    for key in ("verification",):
        if key in first:
            out[key] = first[key]
    return out
