"""Plain-text report for a terminal: grouped by platform and layer, counts at the end."""

from __future__ import annotations

import datetime as _dt
from typing import Any, Mapping

from repro.report.document import (input_digest, manifest_name, platform_digests, provoked_text, sections,
                                   unknown_count, variation_lines)
from repro.report.nested import listings

MAX_ENTRIES = 20  # nested-archive entries listed per archive
from repro.report.escape import controls, quoted

_WIDTH = 60


def _short(v: Any) -> str:
    if isinstance(v, str) and v.startswith("sha256:") and len(v) == 71:
        return v[:19]
    if isinstance(v, bool):
        return "present" if v else "absent"
    if v is None:
        return "(none)"
    s = v if isinstance(v, str) else repr(v) if not isinstance(v, (dict, list)) else _compact(v)
    return s if len(s) <= _WIDTH else s[:_WIDTH - 1] + "…"


def _compact(v: Any) -> str:
    import json
    return json.dumps(v, ensure_ascii=False, separators=(",", ":"))


def _when(v: Any) -> str:
    try:
        t = float(v)
        return _dt.datetime.fromtimestamp(t, _dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S") + " UTC"
    except (TypeError, ValueError, OverflowError, OSError):
        return ""


def _finding_line(f: Mapping[str, Any], build: Mapping[str, Any] | None = None) -> list[str]:
    what = f.get("path") or f["field"]
    fld = f["field"]
    label = f"{what}  {fld}" if f.get("path") else fld
    if f["field"] == "annotations" and "key" in f["detail"]:
        label = f"annotation {f['detail']['key']}"
    if f["kind"] == "index" and f["detail"].get("entry"):
        # an entry of an index: which one, and which of its fields
        key = f["detail"].get("key")
        label = f"{f['detail']['entry']}: {fld}" + (f" {key}" if key else "")
    if f["field"] == "history" and "index" in f["detail"]:
        label = f"history[{f['detail']['index']}]" + (f".{f['detail']['key']}" if "key" in f["detail"] else "")
    a, b = _short(f.get("a")), _short(f.get("b"))
    if fld == "presence":
        line = f"{label}: only in {'A' if f.get('a') else 'B'}"
    elif fld == "mtime":
        line = f"{label}: {a} ({_when(f.get('a'))}) → {b} ({_when(f.get('b'))})"
    else:
        line = f"{label}: {a} → {b}"
    lines = [line]
    if f.get("stage_chain"):
        from repro.dockerfile.chain import chain_text

        lines.append(f"    made by: {chain_text(f['stage_chain'])}")
    provoked = provoked_text(f, build)
    if provoked:
        lines.append(f"    provoked by: {provoked}")
    if f.get("cause"):
        lines.append(f"    cause: {f['cause']} — {f.get('hint') or ''}".rstrip(" —"))
    d = f.get("detail") or {}
    if isinstance(d.get("diff"), str):
        lines.extend("    | " + l for l in d["diff"].splitlines()[:20])
    for lst in listings(d):
        lines.append(f"    {lst.title}" + (f" ({'; '.join(lst.notes)})" if lst.notes else "") + ":")
        width = min(max((len(r.name) for r in lst.rows), default=0), 40)
        for r in lst.rows[:MAX_ENTRIES]:
            values = "; ".join(f"{k} {va} → {vb}" for (k, va), (_, vb) in zip(r.a, r.b)) or r.differs_in
            lines.append(f"      {r.name:<{width}}  {values}")
        if len(lst.rows) > MAX_ENTRIES:
            lines.append(f"      … {len(lst.rows) - MAX_ENTRIES} more (--format json lists them)")
    if isinstance(d.get("diffoscope"), str):
        lines.append("    diffoscope:")
        lines.extend("    : " + l for l in d["diffoscope"].splitlines()[:40])
    return lines


def builders_line(build: Mapping[str, Any]) -> str:
    """Which builders made the builds: "buildctl (ephemeral) ×2", "buildctl (ephemeral), buildx:ci (remote)"."""
    from collections import Counter

    seen = Counter(f"{b.get('builder') or 'buildctl'} ({b.get('driver') or '?'})" for b in build.get("builds") or []
                   if isinstance(b, Mapping))
    return ", ".join(k + (f" ×{n}" if n > 1 else "") for k, n in seen.items())


def render_text(doc: Mapping[str, Any]) -> str:
    out: list[str] = []
    a, b = doc["inputs"]
    out.append(f"A: {a['ref']}  ({a['kind']}, {input_digest(a)})")
    out.append(f"B: {b['ref']}  ({b['kind']}, {input_digest(b)})")
    pol = doc.get("policy", {})
    if pol.get("mode") == "semantic" or pol.get("ignore"):
        rules = ", ".join(r["name"] for r in pol.get("semantic_rules", []))
        out.append(f"policy: {pol.get('mode')}" + (f" (ignoring {rules})" if rules else "")
                   + (f"; --ignore {' '.join(pol['ignore'])}" if pol.get("ignore") else ""))
    if pol.get("config"):
        cf = pol["config"]
        over = cf.get("overridden_by_flags") or []
        out.append(f"config: {cf.get('file')} (sha256:{str(cf.get('sha256'))[:12]})"
                   + (f"; overridden by flags: {', '.join(over)}" if over else ""))
    if "build" in doc:
        bd = doc["build"]
        out.append(f"build: BuildKit {bd.get('buildkit_version', '?')}, SOURCE_DATE_EPOCH={bd.get('source_date_epoch')}"
                   + (f", builders: {builders_line(bd)}" if builders_line(bd) else ""))
        out.extend(variation_lines(bd))
    for w in doc.get("warnings") or []:  # e.g. executables built for another platform
        if isinstance(w, Mapping):
            out.append(f"warning: {w.get('message', '')}")
    comparisons = [c for c in doc.get("comparisons") or [] if isinstance(c, Mapping)]
    if comparisons:  # every build's digest, also of the builds beyond A and B
        out.append("comparisons:")
        width = max(len(str(c.get("pair", ""))) for c in comparisons)
        for c in comparisons:
            n = c.get("findings", 0)
            verdict = "reproducible" if c.get("verdict") == "reproducible" else \
                f"NOT reproducible ({n} finding{'s' if n != 1 else ''})"
            digests = f"{str(c.get('digest_a') or '?')[:19]} / {str(c.get('digest_b') or '?')[:19]}"
            out.append(f"  {str(c.get('pair', '')):<{width}}  {digests}  {verdict}"
                       + ("  (shown below)" if c.get("reported") else ""))

    top, plats = sections(doc)
    if top:
        out.append("")
        out.append("index")
        for f in top:
            out.extend("  " + l for l in _finding_line(f, doc.get('build')))

    for sec in plats:
        p = sec.platform
        name = quoted(p["platform"]) + (" (attestation)" if p["role"] == "attestation" else "")
        out.append("")
        if p["equal"]:
            out.append(f"{name}: identical ({' '.join(manifest_name(doc, p, 'a'))})")
            continue
        if p["a"] is None or p["b"] is None:
            out.append(f"{name}: only in {'A' if p['a'] else 'B'}")
            continue
        merged = "  (layer counts differ: merged filesystems compared)" if p["merged"] else ""
        if p.get("verdict") == "reproducible":  # every difference here was set aside by the policy
            out.append(f"{name}: equal under the policy (the manifests differ only in what it sets aside){merged}")
        else:
            out.append(f"{name}: {platform_digests(doc, p)}{merged}")
        for f in sec.head:
            out.extend(f"  {f['kind']}: " + l if i == 0 else "  " + l for i, l in enumerate(_finding_line(f, doc.get('build'))))
        layer_fs = sec.layers
        for layer in p["layers"]:
            lf = layer_fs.get(layer["index"], [])
            instr = layer.get("instruction") or ""
            status = layer["status"]
            if status == "equal":
                out.append(f"  layer {layer['index']}  {instr}  — equal")
                continue
            out.append(f"  layer {layer['index']}  {instr}  — {status}")
            for f in lf:
                out.extend("    " + l for l in _finding_line(f, doc.get('build')))
        if None in layer_fs:  # merged comparison
            out.append("  merged filesystem")
            for f in layer_fs[None]:
                out.extend("    " + l for l in _finding_line(f, doc.get('build')))

    s = doc["summary"]
    out.append("")
    kinds = ", ".join(f"{k} {n}" for k, n in s["by_kind"].items())
    ign = f"; {s['ignored']} ignored by policy" if s["ignored"] else ""
    if doc["verdict"] == "reproducible":
        out.append(f"REPRODUCIBLE: no differences{ign}")
    else:
        unknown = unknown_count(s)  # shown whenever there are any, also when all are unknown
        out.append(f"NOT REPRODUCIBLE: {s['findings']} finding{'s' if s['findings'] != 1 else ''} ({kinds})"
                   + (f", {unknown} unknown" if unknown else "") + ign
                   + ("; only the packaging differs: the layers and the config are the same"
                      if set(s["by_cause"]) == {"packaging"} else ""))
    # Paths, instructions and file contents come from images: a newline must not forge a
    # report line, nor an escape sequence reach the terminal.
    return "\n".join(controls(line) for line in out) + "\n"
