"""One self-contained HTML page for auditors: no scripts, fonts or images from anywhere.

Verdict first; then per platform the layers with their instructions, and under each
layer its findings with cause, hint and inner differences (collapsible).
"""

from __future__ import annotations

from html import escape
from typing import Any, Mapping

from repro.report.document import sections
from repro.report.escape import controls

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#1d232a}
h1{font-size:1.6rem;margin:.2rem 0}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #d0d7de}
.verdict{padding:1rem 1.2rem;border-radius:8px;margin:1rem 0}
.ok{background:#dafbe1;border:1px solid #4ac26b}.bad{background:#ffebe9;border:1px solid #ff8182}
code,pre,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
table{border-collapse:collapse;width:100%;margin:.5rem 0;table-layout:fixed}td.mono{word-break:break-all}
table.f col.p{width:22%}table.f col.w{width:12%}table.f col.v{width:20%}th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #eaeef2;vertical-align:top}
th{background:#f6f8fa}.layer{margin:.8rem 0;border:1px solid #d0d7de;border-radius:6px}
.layer>summary{padding:.5rem .8rem;cursor:pointer;background:#f6f8fa;border-radius:6px}
.layer .body{padding:.3rem .8rem}.tag{display:inline-block;padding:0 .45rem;border-radius:1rem;font-size:12px;margin-left:.4rem}
.equal{background:#dafbe1}.differs{background:#ffebe9}.compression,.not-compared{background:#fff8c5}
.cause{background:#ddf4ff}.unexplained{background:#eaeef2}
pre{background:#f6f8fa;padding:.6rem;overflow:auto;max-height:24rem}.hint{color:#57606a}
.diff-add{color:#116329}.diff-del{color:#82071e}
"""


def _v(v: Any) -> str:
    if isinstance(v, bool):
        return "present" if v else "absent"
    if v is None:
        return "—"
    if isinstance(v, (dict, list)):
        import json
        v = json.dumps(v, ensure_ascii=False)
    s = str(v)
    if s.startswith("sha256:") and len(s) == 71:
        return f'<span title="{escape(s)}">{escape(s[:23])}…</span>'
    return escape(s if len(s) <= 120 else s[:119] + "…")


def _diff_block(text: str) -> str:
    lines = []
    for line in text.splitlines()[:200]:
        cls = "diff-add" if line.startswith("+") and not line.startswith("+++") else \
              "diff-del" if line.startswith("-") and not line.startswith("---") else ""
        lines.append(f'<span class="{cls}">{escape(line)}</span>' if cls else escape(line))
    return "<pre>" + "\n".join(lines) + "</pre>"


def _finding_rows(fs: list[Mapping[str, Any]]) -> str:
    rows = ["<table class=f><colgroup><col class=p><col class=w><col class=v><col class=v><col></colgroup>"
            "<tr><th>path / field</th><th>what</th><th>A</th><th>B</th><th>cause</th></tr>"]
    for f in fs:
        d = f.get("detail") or {}
        what = f["field"]
        if f["field"] == "history" and "index" in d:
            what = f"history[{d['index']}]" + (f".{d['key']}" if "key" in d else "")
        elif "key" in d:
            what += f" {d['key']}"
        cause = f.get("cause")
        badge = (f'<span class="tag cause">{escape(cause)}</span>' if cause
                 else '<span class="tag unexplained">unexplained</span>')
        extra = ""
        if f.get("stage_chain"):
            from repro.dockerfile.chain import chain_text

            extra += f'<div class="hint">made by: <code>{escape(chain_text(f["stage_chain"]))}</code></div>'
        if f.get("hint"):
            extra += f'<div class="hint">{escape(f["hint"])}</div>'
        if isinstance(d.get("diff"), str):
            extra += f"<details open><summary>inner difference</summary>{_diff_block(d['diff'])}</details>"
        if isinstance(d.get("diffoscope"), str):
            extra += f"<details><summary>diffoscope</summary>{_diff_block(d['diffoscope'])}</details>"
        other = {k: v for k, v in d.items() if k not in ("diff", "diffoscope")}
        if other:
            import json
            extra += (f"<details><summary>detail</summary><pre>{escape(json.dumps(other, indent=1, ensure_ascii=False))}"
                      "</pre></details>")
        rows.append(f'<tr><td class="mono">{escape(str(f.get("path") or f["kind"]))}</td><td>{escape(what)}</td>'
                    f'<td class="mono">{_v(f.get("a"))}</td><td class="mono">{_v(f.get("b"))}</td>'
                    f"<td>{badge}{extra}</td></tr>")
    rows.append("</table>")
    return "".join(rows)


def render_html(doc: Mapping[str, Any]) -> str:
    s = doc["summary"]
    ok = doc["verdict"] == "reproducible"
    a, b = doc["inputs"]
    parts = [f"<!doctype html><html lang=en><head><meta charset=utf-8>"
             f"<meta name=viewport content='width=device-width,initial-scale=1'>"
             f"<title>repro: {'reproducible' if ok else 'not reproducible'}</title><style>{_CSS}</style></head><body>"]
    parts.append("<h1>repro report</h1>")
    kinds = ", ".join(f"{n} {escape(k)}" for k, n in s["by_kind"].items())
    verdict = ("Reproducible: the two images are identical" + (" under the policy below" if s["ignored"] else "")
               if ok else f"Not reproducible: {s['findings']} finding{'s' if s['findings'] != 1 else ''} ({kinds}), "
               f"{s['by_cause'].get('unexplained', 0)} unexplained")
    parts.append(f'<div class="verdict {"ok" if ok else "bad"}" id=verdict><strong>{verdict}</strong></div>')
    parts.append("<table><tr><th></th><th>image</th><th>kind</th><th>digest</th></tr>")
    for side, i in zip("AB", (a, b)):
        parts.append(f"<tr><td>{side}</td><td class=mono>{escape(i['ref'])}</td><td>{escape(i['kind'])}</td>"
                     f"<td class=mono>{escape(i['digest'])}</td></tr>")
    parts.append("</table>")
    pol = doc.get("policy", {})
    rules = ", ".join(r["name"] for r in pol.get("semantic_rules", [])) or "none"
    parts.append(f"<p>Policy: <strong>{escape(pol.get('mode', ''))}</strong>; semantic rules: {escape(rules)}; "
                 f"ignored paths: {escape(', '.join(pol.get('ignore', [])) or 'none')}; "
                 f"{s['ignored']} finding(s) set aside.</p>")
    if "build" in doc:
        bd = doc["build"]
        parts.append(f"<p>Built with BuildKit {escape(str(bd.get('buildkit_version', '?')))}, "
                     f"<code>SOURCE_DATE_EPOCH={escape(str(bd.get('source_date_epoch')))}</code>.</p>")

    top, plats = sections(doc)
    if top:
        parts.append("<h2>Index</h2>" + _finding_rows(top))
    for sec in plats:
        p = sec.platform
        name = p["platform"] + (" (attestation)" if p["role"] == "attestation" else "")
        parts.append(f"<h2>{escape(name)}</h2>")
        if p["equal"]:
            parts.append(f"<p>Identical: manifest <code>{escape(p['a']['manifest'])}</code>.</p>")
            continue
        if p["a"] is None or p["b"] is None:
            parts.append(f"<p>Only in {'A' if p['a'] else 'B'}.</p>")
            continue
        if p["merged"]:
            parts.append("<p>Layer counts differ: the merged filesystems were compared.</p>")
        if sec.head:
            parts.append("<h3>Manifest and config</h3>" + _finding_rows(sec.head))
        per_layer = sec.layers
        for layer in p["layers"]:
            lf = per_layer.get(layer["index"], [])
            status = layer["status"]
            open_ = " open" if lf else ""
            la, lb = layer.get("a") or {}, layer.get("b") or {}
            parts.append(f'<details class=layer{open_}><summary>layer {layer["index"]} '
                         f'<code>{escape(layer.get("instruction") or "")}</code>'
                         f'<span class="tag {escape(status)}">{escape(status)}</span>'
                         f'{f" — {len(lf)} finding(s)" if lf else ""}</summary><div class=body>'
                         f'<div class="mono hint">A {escape(la.get("digest", "—"))} · diffID {escape(la.get("diff_id", "—"))}'
                         f'<br>B {escape(lb.get("digest", "—"))} · diffID {escape(lb.get("diff_id", "—"))}</div>'
                         + (_finding_rows(lf) if lf else "") + "</div></details>")
        if per_layer.get(None):
            parts.append("<h3>Merged filesystem</h3>" + _finding_rows(per_layer[None]))
    if doc.get("ignored"):
        parts.append(f"<h2>Set aside by the policy ({len(doc['ignored'])})</h2>")
        parts.append("<details><summary>show</summary>" + _finding_rows(list(doc["ignored"])) + "</details>")
    tool = doc.get("tool", {})
    parts.append(f"<p class=hint>{escape(str(tool.get('name')))} {escape(str(tool.get('version')))} · "
                 f"schema {escape(doc['schema'])}</p></body></html>\n")
    # no raw control character reaches the page, whatever a name holds (repro/report/escape.py)
    return controls("".join(parts), keep_newlines=True)
