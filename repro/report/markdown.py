"""Markdown report that fits a CI step summary (GitHub's GITHUB_STEP_SUMMARY, GitLab notes):
verdict first, a table per platform and layer, details collapsed."""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any, Mapping

from repro.report.document import digest_label, provoked_text, unknown_count, variation_lines
from repro.report.escape import controls
from repro.report.nested import listings

MAX_ENTRIES = 20  # nested-archive entries listed per archive


def _cell(v: Any, width: int = 48) -> str:
    if isinstance(v, bool):
        s = "present" if v else "absent"
    elif v is None:
        s = "—"
    elif isinstance(v, str) and v.startswith("sha256:") and len(v) == 71:
        s = v[:19]
    else:
        s = v if isinstance(v, str) else str(v)
    if len(s) > width:
        s = s[:width - 1] + "…"
    return "`" + s.replace("`", "'").replace("|", "\\|").replace("\n", "⏎").replace("\r", "⏎") + "`" if s != "—" else s


def _esc(s: str) -> str:
    """Untrusted text (paths from an image) as plain Markdown: no emphasis, links, HTML or
    table breaks can be smuggled in."""
    s = s.replace("\n", " ").replace("\r", " ")
    return "".join("\\" + c if c in "\\`*_[]<>|#!~$&" else c for c in s)


def _hint(s: str) -> str:
    """A hint: our prose, with what it quotes from an image (a command, a path) in backtick
    spans (repro.explain keeps image text inside them). Both parts are escaped: prose as
    plain text, spans as code, so neither can add markup."""
    parts = re.split(r"(`[^`]*`)", s.replace("\n", " "))
    return "".join(_code(p[1:-1]) if p.startswith("`") and p.endswith("`") and len(p) > 1 else _esc(p)
                   for p in parts)


def _code(s: str) -> str:
    """Untrusted text as one inline code span: the fence is longer than any run of
    backticks inside, so the text cannot close it."""
    s = s.replace("\n", " ").replace("\r", " ").replace("|", "\\|")
    run = cur = 0
    for c in s:
        cur = cur + 1 if c == "`" else 0
        run = max(run, cur)
    fence = "`" * (run + 1)
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def render_markdown(doc: Mapping[str, Any]) -> str:
    s = doc["summary"]
    ok = doc["verdict"] == "reproducible"
    out = [f"## {'✅ Reproducible' if ok else '❌ Not reproducible'}", ""]
    a, b = doc["inputs"]
    if ok:
        out.append("The two images are identical" + (" under the policy below." if s["ignored"] else "."))
    else:
        kinds = ", ".join(f"{n} {k}" for k, n in s["by_kind"].items())
        out.append(f"**{s['findings']} finding{'s' if s['findings'] != 1 else ''}** ({kinds}); "
                   f"{unknown_count(s)} unknown.")
    out += ["", "| | ref | kind | digest |", "|---|---|---|---|",
            f"| A | {_cell(a['ref'])} | {a['kind']} | {digest_label(a)} {_cell(a['digest'])} |",
            f"| B | {_cell(b['ref'])} | {b['kind']} | {digest_label(b)} {_cell(b['digest'])} |", ""]
    pol = doc.get("policy", {})
    if pol.get("mode") == "semantic" or pol.get("ignore") or s["ignored"]:
        rules = ", ".join(r["name"] for r in pol.get("semantic_rules", [])) or "none"
        out.append(f"Policy: **{pol.get('mode')}**; semantic rules: {rules}; ignored globs: "
                   f"{', '.join(_cell(g) for g in pol.get('ignore', [])) or 'none'}; "
                   f"{s['ignored']} finding(s) set aside.")
        out.append("")
    if pol.get("config"):
        cf = pol["config"]
        over = cf.get("overridden_by_flags") or []
        out.append(f"Defaults from {_code(str(cf.get('file')))} (sha256 `{str(cf.get('sha256'))[:12]}`)"
                   + (f"; overridden by flags: {', '.join(over)}." if over else "."))
        out.append("")
    if "build" in doc:
        bd = doc["build"]
        from repro.report.text import builders_line

        who = builders_line(bd)
        out.append(f"Built with BuildKit {bd.get('buildkit_version', '?')}, "
                   f"`SOURCE_DATE_EPOCH={bd.get('source_date_epoch')}`" + (f"; builders: {who}." if who else "."))
        out.append("")
        varied = variation_lines(bd)
        if varied:  # our own words, with variation names and the wrapper's reasons (no image content)
            out += [f"- {_esc(line.strip())}" for line in varied] + [""]

    for w in doc.get("warnings") or []:  # e.g. executables built for another platform
        if isinstance(w, Mapping):
            out += [f"> **Warning:** {_esc(str(w.get('message', '')))}", ""]
    comparisons = [c for c in doc.get("comparisons") or [] if isinstance(c, Mapping)]
    if comparisons:  # every build's digest, also of the builds beyond A and B
        out += ["| comparison | digests | verdict |", "|---|---|---|"]
        for c in comparisons:
            n = c.get("findings", 0)
            verdict = ("reproducible" if c.get("verdict") == "reproducible"
                       else f"not reproducible ({n} finding{'s' if n != 1 else ''})")
            out.append(f"| {_cell(str(c.get('pair', '')))} | {_cell(c.get('digest_a'))} / {_cell(c.get('digest_b'))} "
                       f"| {verdict}{' (shown below)' if c.get('reported') else ''} |")
        out.append("")
    if doc["findings"]:
        causes = {k: n for k, n in s["by_cause"].items()}
        out += ["| cause | findings |", "|---|---|"]
        out += [f"| {c} | {n} |" for c, n in sorted(causes.items(), key=lambda kv: -kv[1])]
        out.append("")

    groups: dict[tuple[Any, Any], list[Mapping[str, Any]]] = defaultdict(list)
    for f in doc["findings"]:
        groups[(f.get("platform"), f.get("layer") if f["kind"] in ("layer", "file") else "head")].append(f)
    instr = {}
    for p in doc["platforms"]:
        for l in p["layers"]:
            instr[(p["platform"], l["index"])] = l.get("instruction")
    for (plat, layer), fs in groups.items():
        name = _esc(plat) if plat else "index"
        if layer == "head":
            title = f"{name}: index, manifest and config"
        elif layer is None:
            title = f"{name}: merged filesystem"
        else:
            title = f"{name}: layer {layer} — {_code(instr.get((plat, layer)) or '')}"
        attributed = any(f.get("provoked_by") is not None for f in fs)  # check --bisect
        out += [f"### {title}", "", "| path / field | what | A | B | cause |" + (" provoked by |" if attributed else ""),
                "|---|---|---|---|---|" + ("---|" if attributed else "")]
        for f in fs:
            det = f.get("detail", {})
            if f["field"] == "history" and "index" in det:
                what = f"history[{det['index']}]" + (f".{det['key']}" if "key" in det else "")
            else:
                what = f["field"]
            if "key" in det and f["field"] != "history":
                what = _esc(what) + " " + _code(str(det["key"]))
            else:
                what = _esc(what)
            provoked = provoked_text(f, doc.get("build")) if attributed else None
            where = f.get("path") or (det.get("entry") if f["kind"] == "index" else None) or f["kind"]
            out.append(f"| {_cell(where)} | {what} | {_cell(f.get('a'))} | {_cell(f.get('b'))} "
                       f"| {f.get('cause') or 'unexplained'} |" + (f" {_esc(provoked or '—')} |" if attributed else ""))
        for f in fs:
            if f.get("stage_chain"):
                from repro.dockerfile.chain import chain_text

                out += ["", f"{_esc(f.get('path') or f['field'])} was made by: {_code(chain_text(f['stage_chain']))}"]
        hints = [f for f in fs if f.get("hint") or f.get("detail", {}).get("diff") or f.get("detail", {}).get("diffoscope")
                 or listings(f.get("detail") or {})]
        if hints:
            out += ["", "<details><summary>Hints and inner differences</summary>", ""]
            for f in hints:
                out.append(f"- **{_esc(f.get('path') or f['field'])}** ({f.get('cause') or 'unexplained'}): "
                           f"{_hint(f.get('hint') or '')}")
                for lst in listings(f.get("detail") or {}):
                    note = f" ({'; '.join(lst.notes)})" if lst.notes else ""
                    out += ["", f"  {_esc(lst.title[:1].upper() + lst.title[1:])}{_esc(note)}:", "",
                            "  | entry | differs in | A | B |", "  |---|---|---|---|"]
                    for r in lst.rows[:MAX_ENTRIES]:
                        out.append(f"  | {_code(r.name)} | {_esc(r.differs_in)} | "
                                   f"{'<br>'.join(_esc(f'{k} {v}' if len(r.a) > 1 else v) for k, v in r.a)} | "
                                   f"{'<br>'.join(_esc(f'{k} {v}' if len(r.b) > 1 else v) for k, v in r.b)} |")
                    if len(lst.rows) > MAX_ENTRIES:
                        out.append(f"  | … {len(lst.rows) - MAX_ENTRIES} more (`--format json` lists them) | | | |")
                for key in ("diff", "diffoscope"):
                    d = f.get("detail", {}).get(key)
                    if isinstance(d, str):
                        lines = d.splitlines()[:40]
                        fence = _fence(lines)
                        out += ["", f"  {fence}diff", *["  " + l for l in lines], f"  {fence}"]
            out += ["", "</details>"]
        out.append("")
    # a name, label or file content cannot break a line, a table or a fence: every line
    # is made of escaped text, and what the renderer joins with newlines is its own
    return "\n".join(controls(line) for line in out).rstrip() + "\n"


def _fence(lines: list[str]) -> str:
    """A code fence longer than any run of backticks in `lines`: CommonMark closes a
    fence only with one at least as long, so the content cannot close it."""
    longest = max((len(run) for line in lines for run in _BACKTICKS.findall(line)), default=0)
    return "`" * max(3, longest + 1)


_BACKTICKS = re.compile("`+")
