"""One self-contained HTML page for auditors: no scripts, fonts, images or links out of
the page; it reads the same in a browser with JavaScript off and on paper.

Order, as an auditor reads it:
1. the verdict, with what was compared and which variations the builds had;
2. a summary: the images (each with its digest, labelled), the build settings, the
   variations, the policy, the findings counted by cause (each linking to its first one);
3. per platform, an overview of the layers, then one section per layer that differs,
   holding a card per finding: path and field, A → B, cause and fix, the inner difference
   full width with the changed characters marked, nested-archive entries as a table, any
   other detail as a table (never a JSON dump);
4. what the policy set aside.

Every line wraps (long paths, digests and diff lines break anywhere), so the page never
scrolls sideways; tests/test_report_html.py measures that in Chromium at 1280 and 900 px
and with the print styles applied.
"""

from __future__ import annotations

import datetime as _dt
import difflib
import re
from html import escape
from typing import Any, Iterable, Mapping

from repro.report.document import digest_label, sections, unknown_count
from repro.report.escape import controls
from repro.report.nested import Listing, is_archive, listings

_CSS = """
:root{--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--soft:#f6f8fa;--ok:#1a7f37;--ok-bg:#dafbe1;--bad:#cf222e;
--bad-bg:#ffebe9;--warn-bg:#fff8c5;--info-bg:#ddf4ff;--mono:ui-monospace,SFMono-Regular,"DejaVu Sans Mono",Menlo,Consolas,monospace}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;color:var(--fg);margin:0 auto;
max-width:72rem;padding:1.5rem 1.25rem 3rem;overflow-wrap:anywhere}
h1{font-size:1rem;font-weight:600;color:var(--muted);margin:0 0 .75rem;letter-spacing:.02em}
h2{font-size:1.25rem;margin:2.25rem 0 .75rem;padding-bottom:.3rem;border-bottom:1px solid var(--line)}
h3{font-size:1.05rem;margin:0}
h4{font-size:.95rem;margin:1rem 0 .4rem}
code,pre,.mono{font-family:var(--mono);font-size:.85em}
code{background:var(--soft);border-radius:4px;padding:.05em .3em}
a{color:#0969da}
.verdict{border-radius:10px;padding:1rem 1.25rem;margin:0 0 1.25rem;border:1px solid}
.verdict.ok{background:var(--ok-bg);border-color:#4ac26b}.verdict.bad{background:var(--bad-bg);border-color:#ff8182}
.verdict .v{font-size:1.6rem;font-weight:700;margin:0}.verdict.ok .v{color:var(--ok)}.verdict.bad .v{color:var(--bad)}
.verdict p{margin:.3rem 0 0}
.verdict .warning{margin-top:.5rem;padding:.4rem .6rem;background:var(--warn-bg);border:1px solid #d4a72c;border-radius:6px}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(26rem,100%),1fr));gap:1rem}
.grid>*{min-width:0}.grid>.wide{grid-column:1/-1}
.box{border:1px solid var(--line);border-radius:8px;padding:.75rem 1rem}
.box h3{margin-bottom:.5rem}
table{border-collapse:collapse;width:100%;table-layout:fixed}
th,td{text-align:left;vertical-align:top;padding:.3rem .5rem;border-bottom:1px solid var(--line);overflow-wrap:anywhere;word-break:break-word}
thead th{background:var(--soft);font-weight:600}
table.kv th{width:30%;font-weight:600;color:var(--muted);overflow-wrap:normal;word-break:normal}
table.sides th{width:2.2rem}
table.kv tr:last-child>*{border-bottom:0}
.num{text-align:right;width:5.5rem;white-space:nowrap}
.tag{display:inline-block;border-radius:2rem;padding:0 .55rem;font-size:.8rem;font-weight:600;white-space:nowrap;
border:1px solid transparent;vertical-align:baseline}
.tag.equal{background:var(--ok-bg);color:var(--ok)}.tag.differs{background:var(--bad-bg);color:var(--bad)}
.tag.compression,.tag.not-compared,.tag.unexplained{background:var(--warn-bg);color:#7d4e00}
.tag.cause{background:var(--info-bg);color:#0550ae}
.muted{color:var(--muted)}
.platform-head{display:flex;flex-wrap:wrap;gap:.5rem;align-items:baseline}
.layer{border:1px solid var(--line);border-radius:10px;margin:1rem 0}
.layer>header{background:var(--soft);padding:.6rem 1rem;border-bottom:1px solid var(--line);border-radius:10px 10px 0 0}
.layer>header p{margin:.25rem 0 0;font-size:.85rem}
.layer>header h3 code{font-weight:400;background:none;padding:0}
.finding{padding:.85rem 1rem;border-top:1px solid var(--line)}
.layer>header+.finding{border-top:0}
.finding>header{display:flex;flex-wrap:wrap;gap:.35rem .6rem;align-items:baseline}
.finding .path{font-weight:600;font-size:.95rem;background:none;padding:0}
.field{color:var(--muted)}
.ab{display:grid;grid-template-columns:auto 1fr;gap:.15rem .75rem;margin:.5rem 0}
.ab dt{font-weight:700;color:var(--muted)}.ab dd{margin:0;min-width:0;font-family:var(--mono);font-size:.85em}
.fix{margin:.5rem 0;padding:.45rem .75rem;border-left:3px solid #54aeff;background:#f3f9ff;border-radius:0 6px 6px 0}
.fix b{color:#0550ae}
pre.diff{background:var(--soft);border:1px solid var(--line);border-radius:6px;padding:.6rem .75rem;margin:.5rem 0;
white-space:pre-wrap;overflow-wrap:anywhere;word-break:break-all;line-height:1.45}
.diff .add{color:#116329;background:#e6ffec;display:block}.diff .del{color:#82071e;background:#ffebe9;display:block}
.diff .hunk{color:#8250df;display:block}.diff .file{color:var(--muted);display:block}
.diff ins{text-decoration:none;background:#abf2bc;border-radius:2px;font-weight:700}
.diff del{text-decoration:none;background:#ffcecb;border-radius:2px;font-weight:700}
.diff .skip{color:var(--muted);font-style:italic;background:#fff;border-radius:2px;padding:0 .2em}
table.entries{margin:.4rem 0;font-size:.9rem}
table.entries td.name{font-family:var(--mono);font-size:.85em}
details{margin:.5rem 0}
details>summary{cursor:pointer;color:var(--muted);font-weight:600}
.set-aside .finding{border:1px solid var(--line);border-radius:8px;margin:.5rem 0}
footer{margin-top:3rem;font-size:.85rem;color:var(--muted)}
@media (max-width:40rem){body{padding:1rem .75rem}table.kv th{width:40%}}
@media print{
body{max-width:none;padding:0;font-size:11pt}
.verdict,.tag,.layer>header,pre.diff,.diff .add,.diff .del,thead th{-webkit-print-color-adjust:exact;print-color-adjust:exact}
.finding,.box,tr{break-inside:avoid}
h2,h3,.layer>header{break-after:avoid}
details::details-content{content-visibility:visible;display:block}
details>summary{list-style:none}
a{color:inherit;text-decoration:none}
}
"""

_KIND_NAMES = {"index": "index", "manifest": "manifest", "config": "config", "layer": "layer", "file": "file"}
_SHORT = 19  # "sha256:" + 12 hex, as the text report shows digests


# --- small pieces -----------------------------------------------------------------------

def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _text(v: Any, limit: int = 400) -> str:
    """A value from an image as escaped text, cut at `limit` characters."""
    s = v if isinstance(v, str) else str(v)
    return escape(s if len(s) <= limit else s[:limit - 1] + "…")


def _rich(text: str) -> str:
    """Our own prose (hints, catalogue text) with `backticks` shown as code."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escape(text))


def _digest(d: Any, *, full: bool = False) -> str:
    if not isinstance(d, str) or not d:
        return '<span class="muted">—</span>'
    if full or not (d.startswith("sha256:") and len(d) == 71):
        return f'<span class="mono">{escape(d)}</span>'
    return f'<span class="mono" title="{escape(d)}">{escape(d[:_SHORT])}…</span>'


def _when(v: Any) -> str:
    try:
        t = _dt.datetime.fromtimestamp(float(v), _dt.timezone.utc)
    except (TypeError, ValueError, OverflowError, OSError):
        return ""
    return t.strftime("%Y-%m-%d %H:%M:%S UTC")


def _value(v: Any, field: str = "") -> str:
    """A finding's A or B value."""
    if isinstance(v, bool):
        return "present" if v else "absent"
    if v is None:
        return '<span class="muted">—</span>'
    if isinstance(v, str) and v.startswith("sha256:") and len(v) == 71:
        return _digest(v)
    if field == "mtime" and _when(v):
        return f"{_when(v)} <span class=muted>({_text(v)})</span>"
    if field == "mode" and isinstance(v, int):
        return f"{oct(v)}"
    if isinstance(v, (dict, list)):
        return _detail_value(v, 1)
    return _text(v)


def _what(f: Mapping[str, Any]) -> str:
    d = f.get("detail") or {}
    if f["field"] == "history" and "index" in d:
        return f"history[{d['index']}]" + (f".{d['key']}" if "key" in d else "")
    if f["field"] == "annotations" and "key" in d:
        return f"annotation {d['key']}"
    if "key" in d:
        return f"{f['field']} {d['key']}"
    return str(f["field"])


def _anchor(*parts: Any) -> str:
    return "-".join(re.sub(r"[^A-Za-z0-9-]+", "_", str(p)) for p in parts)


# --- the inner difference: unified diff with the changed characters marked --------------

_TOKEN = re.compile(r"\w+|\s+|[^\w\s]")
_KEEP = 60  # characters of unchanged text kept on each side of a change in a long line


def _equal_run(text: str, first: bool, last: bool) -> str:
    """Unchanged text between changes; a long run keeps only its ends, so the change
    itself is on screen even in a minified file's one long line."""
    if len(text) <= 3 * _KEEP:
        return escape(text)
    head = "" if first else text[:_KEEP]
    tail = "" if last else text[-_KEEP:]
    skipped = len(text) - len(head) - len(tail)
    return f'{escape(head)}<span class="skip">… {skipped} unchanged characters …</span>{escape(tail)}'


def _marked(a: str, b: str) -> tuple[str, str]:
    """Two changed lines with the words that differ wrapped in <del> / <ins>."""
    ta, tb = _TOKEN.findall(a), _TOKEN.findall(b)
    if len(ta) + len(tb) > 20000:
        return _equal_run(a, False, False), _equal_run(b, False, False)
    ops = difflib.SequenceMatcher(None, ta, tb, autojunk=False).get_opcodes()
    out_a, out_b = [], []
    for n, (op, i1, i2, j1, j2) in enumerate(ops):
        if op == "equal":
            text = "".join(ta[i1:i2])
            out_a.append(_equal_run(text, n == 0, n == len(ops) - 1))
            out_b.append(_equal_run(text, n == 0, n == len(ops) - 1))
            continue
        if i2 > i1:
            out_a.append(f"<del>{escape(''.join(ta[i1:i2]))}</del>")
        if j2 > j1:
            out_b.append(f"<ins>{escape(''.join(tb[j1:j2]))}</ins>")
    return "".join(out_a), "".join(out_b)


def _line(text: str, limit: int = 2000) -> str:
    """A diff line without a partner, cut when very long."""
    if len(text) <= limit:
        return escape(text)
    return f'{escape(text[:limit])}<span class="skip">… {len(text) - limit} more characters</span>'


def _diff_block(text: str, limit: int = 400) -> str:
    lines = text.splitlines()[:limit]
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith(("---", "+++")):
            out.append(f'<span class="file">{escape(line)}</span>')
            i += 1
        elif line.startswith("@@"):
            out.append(f'<span class="hunk">{escape(line)}</span>')
            i += 1
        elif line.startswith("-"):
            # a run of removed lines, then the added ones: pair them up to mark what changed
            # ("\\ No newline at end of file" belongs to the line before it)
            dels, adds, notes = [], [], []
            for sign, bucket in (("-", dels), ("+", adds)):
                while i < len(lines) and (lines[i].startswith(sign) and not lines[i].startswith(sign * 3)
                                          or lines[i].startswith("\\") and bucket):
                    if lines[i].startswith("\\"):
                        notes.append(lines[i])
                    else:
                        bucket.append(lines[i][1:])
                    i += 1
            pairs = min(len(dels), len(adds)) if len(dels) == len(adds) or min(len(dels), len(adds)) <= 3 else 0
            marked = [_marked(dels[k], adds[k]) for k in range(pairs)]
            out += [f'<span class="del">-{marked[k][0] if k < pairs else _line(d)}</span>' for k, d in enumerate(dels)]
            out += [f'<span class="add">+{marked[k][1] if k < pairs else _line(a)}</span>' for k, a in enumerate(adds)]
            out += [f'<span class="file">{escape(n)}</span>' for n in dict.fromkeys(notes)]
        elif line.startswith("+"):
            out.append(f'<span class="add">{_line(line)}</span>')
            i += 1
        else:
            out.append(_line(line))
            i += 1
    # the spans are display:block, so lines are not joined with newlines (no blank lines)
    return '<pre class="diff">' + "".join(s if s.startswith("<span") else s + "\n" for s in out) + "</pre>"


# --- detail: nested archives as a table, the rest as key/value tables --------------------

_ENTRY_KEYS = ("entries_differ", "entries_differ_count", "only_a", "only_b", "content_differs", "entries",
               "order_differs", "metadata_only", "content_equal", "fields_differ", "truncated")
_NOT_DETAIL = {"diff", "diff_truncated", "diffoscope", "role", "key", "index", "format", "payload"}
_LABELS = {"size": "size (bytes)", "only_timestamps": "only timestamps differ", "delta_seconds": "Δ seconds",
           "a_time": "A time", "b_time": "B time", "lines": "lines"}


def _label(key: str) -> str:
    return _LABELS.get(key, key.replace("_", " "))


def _is_pair(v: Any) -> bool:
    return isinstance(v, Mapping) and set(v) == {"a", "b"}


def _detail_value(v: Any, depth: int) -> str:
    if _is_pair(v):
        return f"{_detail_value(v['a'], depth + 1)} → {_detail_value(v['b'], depth + 1)}"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if v is None:
        return '<span class="muted">—</span>'
    if isinstance(v, str) and v.startswith("sha256:") and len(v) == 71:
        return _digest(v)
    if isinstance(v, Mapping):
        if depth > 3 or not v:
            return _text(v) if v else '<span class="muted">—</span>'
        return _kv_table(v.items(), depth + 1)
    if isinstance(v, (list, tuple)):
        if not v:
            return '<span class="muted">none</span>'
        if all(isinstance(x, Mapping) for x in v) and depth <= 3:
            return _list_table(v, depth + 1)
        shown = ", ".join(_detail_value(x, depth + 1) for x in v[:30])
        return shown + (f" <span class=muted>(+{len(v) - 30} more)</span>" if len(v) > 30 else "")
    return f'<span class="mono">{_text(v, 300)}</span>'


def _list_table(rows: list[Mapping[str, Any]], depth: int) -> str:
    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    head = "".join(f"<th>{escape(_label(c))}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{_detail_value(r.get(c), depth)}</td>" for c in cols) + "</tr>"
                   for r in rows[:50])
    more = f'<p class="muted">{len(rows) - 50} more not shown</p>' if len(rows) > 50 else ""
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}"


def _pairs_of_sides(items: Iterable[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """size_a + size_b (and any X_a + X_b) become one row "X: a → b"."""
    items = list(items)
    keys = {k for k, _ in items}
    out: list[tuple[str, Any]] = []
    for k, v in items:
        if k.endswith("_b") and k[:-2] + "_a" in keys:
            continue
        if k.endswith("_a") and k[:-2] + "_b" in keys:
            out.append((k[:-2], {"a": v, "b": dict(items)[k[:-2] + "_b"]}))
        else:
            out.append((k, v))
    return out


def _kv_table(items: Iterable[tuple[str, Any]], depth: int = 0) -> str:
    rows = "".join(f"<tr><th>{escape(_label(str(k)))}</th><td>{_detail_value(v, depth)}</td></tr>"
                   for k, v in _pairs_of_sides(items))
    return f'<table class="kv">{rows}</table>' if rows else ""


def _listing(lst: Listing) -> str:
    """A nested archive's differing entries as a table (one differing value per entry
    needs no field label: "differs in" names it)."""
    rows = []
    for r in lst.rows:
        named = len(r.a) > 1
        cells = ["<br>".join((f"{escape(k)} " if named else "") + _text(v, 160) for k, v in side)
                 for side in (r.a, r.b)]
        rows.append(f'<tr><td class="name">{_text(r.name, 300)}</td><td>{escape(r.differs_in)}</td>'
                    f"<td>{cells[0]}</td><td>{cells[1]}</td></tr>")
    table = ""
    if rows:
        table = ('<table class="entries"><colgroup><col style="width:32%"><col style="width:14%"><col><col>'
                 "</colgroup><thead><tr><th>entry</th><th>differs in</th><th>A</th><th>B</th></tr></thead>"
                 f"<tbody>{''.join(rows)}</tbody></table>")
    note = "; ".join(lst.notes)
    return table + (f'<p class="muted">{escape(note[:1].upper() + note[1:])}.</p>' if note else "")


def _rest(d: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The detail keys no listing or diff shows; a payload's own ones nested under it."""
    out = [(k, v) for k, v in d.items() if k not in _NOT_DETAIL and not (is_archive(d) and k in _ENTRY_KEYS)]
    payload = d.get("payload")
    if isinstance(payload, Mapping):
        inner = _rest(payload)
        if inner:
            out.append((f"payload ({payload.get('format', '?')})", dict(inner)))
    return out


def _look(d: Mapping[str, Any], *, open_: bool = False) -> str:
    """What a look inside the file found: nested archives' entries as tables, then any
    other detail as a table, collapsed unless it is the finding's main information."""
    out = [f"<h4>{escape(lst.title[:1].upper() + lst.title[1:])}</h4>{_listing(lst)}" for lst in listings(d)]
    rest = _rest(d)
    if rest:
        fmt = d.get("format")
        out.append(f"<details{' open' if open_ else ''}><summary>{'Detail' if open_ else 'More detail'}"
                   f"{f' ({escape(str(fmt))})' if fmt else ''}</summary>{_kv_table(rest)}</details>")
    return "".join(out)


# --- findings -----------------------------------------------------------------------------

def _finding(f: Mapping[str, Any], anchor: str) -> str:
    d = f.get("detail") or {}
    cause = f.get("cause")
    badge = (f'<span class="tag cause">{escape(cause)}</span>' if cause and cause != "unknown"
             else f'<span class="tag unexplained">{escape(cause or "unexplained")}</span>')
    if f.get("path"):
        head = (f'<header><code class="path">{_text(f["path"], 600)}</code><span class="field">{_text(_what(f))}'
                f"</span>{badge}</header>")
    else:  # index, manifest, config and layer findings name a field, not a path
        head = (f'<header><code class="path">{_text(_what(f), 600)}</code><span class="field">{escape(f["kind"])}'
                f"</span>{badge}</header>")
    if f["field"] == "presence":
        ab = f'<p>Only in {"A" if f.get("a") else "B"}.</p>'
    else:
        ab = (f'<dl class="ab"><dt>A</dt><dd>{_value(f.get("a"), f["field"])}</dd>'
              f'<dt>B</dt><dd>{_value(f.get("b"), f["field"])}</dd></dl>')
    parts = [head, ab]
    if f.get("stage_chain"):
        from repro.dockerfile.chain import chain_text

        parts.append(f'<p class="muted">Made by: <code>{_text(chain_text(f["stage_chain"]), 600)}</code></p>')
    if isinstance(f.get("provoked_by"), (list, tuple)):  # check --bisect: which variations make it differ
        by = f["provoked_by"]
        parts.append('<p class="muted">Provoked by: ' + (_text(", ".join(map(str, by))) if by else
                     "no variation — it differs anyway (randomness, the network, the daemon)") + "</p>")
    if f.get("reason"):
        parts.append(f'<p class="muted">Set aside: {_text(f["reason"])}</p>')
    if f.get("hint"):
        parts.append(f'<p class="fix"><b>Fix:</b> {_rich(str(f["hint"]))}</p>')
    if isinstance(d.get("diff"), str):
        cut = " (cut short)" if d.get("diff_truncated") else ""
        parts.append(f"<h4>Inner difference{cut}</h4>{_diff_block(d['diff'])}")
    main_info = not isinstance(d.get("diff"), str) and not listings(d) and f["kind"] != "file"
    parts.append(_look(d, open_=main_info))
    if isinstance(d.get("diffoscope"), str):
        parts.append(f"<details><summary>diffoscope</summary>{_diff_block(d['diffoscope'])}</details>")
    return f'<article class="finding" id="{anchor}">{"".join(parts)}</article>'


def _findings_box(title: str, fs: list[Mapping[str, Any]], ids: dict[int, str]) -> str:
    cards = "".join(_finding(f, ids[id(f)]) for f in fs)
    return (f'<section class="layer"><header><h3>{title}</h3></header>{cards}</section>' if fs else "")


# --- the page -----------------------------------------------------------------------------

def _verdict(doc: Mapping[str, Any], ok: bool) -> str:
    s = doc["summary"]
    a, b = doc["inputs"]
    if ok:
        sub = "The two images are identical" + (" under the policy below" if s.get("ignored") else "") + "."
    else:
        kinds = ", ".join(_plural(n, f"{_KIND_NAMES.get(k, k)} difference") for k, n in s["by_kind"].items())
        unknown = unknown_count(s)
        sub = (f"{_plural(s['findings'], 'finding')}: {escape(kinds)}; "
               + ("all explained" if not unknown else f"{unknown} unknown") + ".")
    vary = _variations_line(doc)
    return (f'<div class="verdict {"ok" if ok else "bad"}" id="verdict" role="status">'
            f'<p class="v">{"Reproducible" if ok else "Not reproducible"}</p><p>{sub}</p>'
            f'<p class="muted">A <span class="mono">{_text(a["ref"], 200)}</span> · B '
            f'<span class="mono">{_text(b["ref"], 200)}</span></p>'
            f'<p id="variations"><b>Variations:</b> {vary}</p>'
            + "".join(f'<p class="warning"><b>Warning:</b> {_text(w.get("message", ""), 600)}</p>'
                      for w in doc.get("warnings") or [] if isinstance(w, Mapping))
            + "</div>")


def _variations_line(doc: Mapping[str, Any]) -> str:
    """Which variations the builds had, said next to the verdict in every report: the set
    (`build.variations`), what each varied build got and what could not be applied and why
    (`builds[].variations`); a report without that record says `build.vary`."""
    if "build" not in doc:
        return "none: these images were not built by repro (<code>repro diff</code>)"
    bd = doc["build"]
    var = bd.get("variations")
    if isinstance(var, Mapping):
        label = str(var.get("set") or "custom")
        names = ", ".join(str(n) for n in var.get("names") or [])
        head = (f"<b>{escape(label)}</b>" + (f" ({_text(names)})" if label == "custom" and names else "")
                + (f" — {_text(var.get('about'))}" if var.get("about") else ""))
        done, missed = [], []
        for i, b in enumerate(bd.get("builds") or []):
            applied = [a for a in (b.get("variations") or []) if isinstance(a, Mapping)] if isinstance(b, Mapping) else []
            if i == 0 or not applied:
                continue
            got = ", ".join(f"{_text(a.get('name'))} ({_text(a.get('value'))})" for a in applied if a.get("applied"))
            done.append(f"build {i + 1}: {got or 'nothing applied'}")
            missed += [f"{'partly applied' if a.get('applied') else 'not applied'} in build {i + 1}: "
                       f"{_text(a.get('name'))} — {_text(a.get('not_applied'))}" for a in applied if a.get("not_applied")]
        return (head + "".join(f"<br>{x}" for x in done)
                + "".join(f'<br><span class="muted">{x}</span>' for x in missed))
    vary = bd.get("vary")
    if not vary:
        return "none: every build ran in the same conditions (no <code>--vary</code>)"
    varied = [i + 1 for i, x in enumerate(bd.get("builds") or []) if isinstance(x, Mapping) and x.get("varied")]
    who = f"build{'s' if len(varied) != 1 else ''} {', '.join(map(str, varied))}: " if varied else ""
    return who + _text(vary)


def _images_box(doc: Mapping[str, Any]) -> str:
    rows = []
    for side, i in zip("AB", doc["inputs"]):
        rows.append(f"<tr><th>{side}</th><td><span class=mono>{_text(i['ref'], 300)}</span><br>"
                    f"<span class=muted>{escape(str(i.get('kind', '')))}</span> · "
                    f"{escape(digest_label(i))} "
                    f"{_digest(i.get('digest'), full=True)}</td></tr>")
    return f'<div class="box"><h3>Images</h3><table class="kv sides">{"".join(rows)}</table></div>'


def _build_box(bd: Mapping[str, Any]) -> str:
    from repro.report.text import builders_line

    rows: list[tuple[str, str]] = [("BuildKit", _text(bd.get("buildkit_version", "?")))]
    epoch = bd.get("source_date_epoch")
    src = bd.get("source_date_epoch_from")
    rows.append(("SOURCE_<wbr>DATE_<wbr>EPOCH", f"<span class=mono>{_text(epoch)}</span>"
                 + (f" <span class=muted>({_when(epoch)}{f', from {_text(src)}' if src else ''})</span>"
                    if _when(epoch) else "")))
    who = builders_line(bd)
    if who:
        rows.append(("builders", _text(who)))
    exporter = bd.get("exporter") or {}
    if exporter:
        rows.append(("exporter", ", ".join(f"<span class=mono>{_text(k)}={_text(v)}</span>"
                                           for k, v in exporter.items())))
    for name, digest in (bd.get("base_digests") or {}).items():
        rows.append((f"base image <code>{_text(name)}</code>", _digest(digest)))
    for n, x in enumerate(bd.get("builds") or [], 1):
        if isinstance(x, Mapping):
            dur = x.get("duration")
            rows.append((f"build {n}", _digest(x.get("digest"))
                         + (f" <span class=muted>{dur:.1f}s</span>" if isinstance(dur, (int, float)) else "")))
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<div class="box"><h3>Build</h3><table class="kv">{body}</table></div>'


def _policy_box(doc: Mapping[str, Any]) -> str:
    pol = doc.get("policy") or {}
    s = doc["summary"]
    rules = ", ".join(str(r.get("name")) for r in pol.get("semantic_rules", []) if isinstance(r, Mapping))
    rows = [("mode", _text(pol.get("mode", "?"))), ("semantic rules", _text(rules) if rules else "none"),
            ("ignored paths", ", ".join(f"<code>{_text(g)}</code>" for g in pol.get("ignore", [])) or "none"),
            ("set aside", f'<a href="#set-aside">{_plural(s.get("ignored", 0), "finding")}</a>'
             if s.get("ignored") else "none")]
    cf = pol.get("config")
    if isinstance(cf, Mapping):
        over = cf.get("overridden_by_flags") or []
        rows.append(("defaults from", f"<span class=mono>{_text(cf.get('file'))}</span>"
                     + (f" <span class=muted>(overridden by flags: {_text(', '.join(over))})</span>" if over else "")))
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<div class="box"><h3>Policy</h3><table class="kv">{body}</table></div>'


def _causes_box(doc: Mapping[str, Any], first: dict[str, str]) -> str:
    by_cause = doc["summary"].get("by_cause") or {}
    if not by_cause:
        return ""
    rows = "".join(f'<tr><td><a href="#{first[c]}">{escape(c)}</a></td><td class="num">{n}</td></tr>'
                   if c in first else f"<tr><td>{escape(c)}</td><td class=num>{n}</td></tr>"
                   for c, n in sorted(by_cause.items(), key=lambda kv: (-kv[1], kv[0])))
    return (f'<div class="box"><h3>Findings by cause</h3><table><thead><tr><th>cause</th><th class="num">findings'
            f"</th></tr></thead><tbody>{rows}</tbody></table></div>")


def _comparisons_box(doc: Mapping[str, Any]) -> str:
    comps = doc.get("comparisons") or []
    if not comps:
        return ""
    rows = "".join(f"<tr><td><span class=mono>{_text(c.get('pair', ''))}</span><br>{_digest(c.get('digest_a'))} · "
                   f"{_digest(c.get('digest_b'))}</td><td>{escape(str(c.get('verdict')))}"
                   f"{'<br><span class=muted>shown below</span>' if c.get('reported') else ''}</td>"
                   f"<td class=num>{_text(c.get('findings'))}</td></tr>" for c in comps if isinstance(c, Mapping))
    return (f'<div class="box wide"><h3>Comparisons</h3><table><thead><tr><th>pair</th><th style="width:9rem">verdict'
            f'</th><th class="num">findings</th></tr></thead><tbody>{rows}</tbody></table></div>')


def _platform(doc: Mapping[str, Any], sec: Any, ids: dict[int, str]) -> str:
    p = sec.platform
    name = p["platform"] + (" (attestation)" if p["role"] == "attestation" else "")
    pid = _anchor("p", p["platform"], p["role"])
    out = [f'<section id="{pid}"><h2 class="platform-head">{escape(name)} ']
    if p["equal"]:
        out.append('<span class="tag equal">identical</span></h2>'
                   f'<p>Manifest {_digest(p["a"]["manifest"], full=True)} on both sides.</p></section>')
        return "".join(out)
    if p["a"] is None or p["b"] is None:
        out.append(f'<span class="tag differs">only in {"A" if p["a"] else "B"}</span></h2></section>')
        return "".join(out)
    if p.get("verdict") == "reproducible":  # every difference was set aside by the policy
        out.append('<span class="tag equal">reproducible under the policy</span></h2>')
    else:
        out.append('<span class="tag differs">differs</span></h2>')
    rows = []
    for side, inp in zip("ab", doc["inputs"]):
        m = p[side]
        if inp.get("digest_of") == "config" and m.get("config") == inp.get("digest"):
            # a docker-archive has no manifest of its own: its image ID, as in the header
            rows.append(f"<tr><th>{side.upper()}</th><td>image ID {_digest(m.get('config'))}</td></tr>")
        else:
            rows.append(f"<tr><th>{side.upper()}</th><td>manifest {_digest(m['manifest'])} · config "
                        f"{_digest(m.get('config'))}</td></tr>")
    out.append(f'<table class="kv sides">{"".join(rows)}</table>')
    if p["merged"]:
        out.append("<p>The layer counts differ, so the merged filesystems were compared.</p>")
    # overview of every layer, then a section per layer that has findings
    rows = []
    for layer in p["layers"]:
        lf = sec.layers.get(layer["index"], [])
        status = str(layer["status"])
        lid = _anchor(pid, "layer", layer["index"])
        count = f'<a href="#{lid}">{_plural(len(lf), "finding")}</a>' if lf else ""
        rows.append(f'<tr><td class="num">{layer["index"]}</td><td><code>{_text(layer.get("instruction") or "", 300)}'
                    f'</code></td><td><span class="tag {escape(status)}">{escape(status)}</span></td><td>{count}</td></tr>')
    if rows:
        out.append('<h4>Layers</h4><table><colgroup><col style="width:3.5rem"><col><col style="width:8rem">'
                   '<col style="width:8rem"></colgroup><thead><tr><th class="num">#</th><th>instruction</th>'
                   f'<th>status</th><th></th></tr></thead><tbody>{"".join(rows)}</tbody></table>')
    out.append(_findings_box("Manifest and config", sec.head, ids))
    for layer in p["layers"]:
        lf = sec.layers.get(layer["index"], [])
        if not lf:
            continue
        la, lb = layer.get("a") or {}, layer.get("b") or {}
        lid = _anchor(pid, "layer", layer["index"])
        out.append(f'<section class="layer" id="{lid}"><header><h3>Layer {layer["index"]} '
                   f'<code>{_text(layer.get("instruction") or "", 600)}</code> '
                   f'<span class="tag {escape(str(layer["status"]))}">{escape(str(layer["status"]))}</span></h3>'
                   f'<p class="muted">blob A {_digest(la.get("digest"))} · B {_digest(lb.get("digest"))}; '
                   f'diffID A {_digest(la.get("diff_id"))} · B {_digest(lb.get("diff_id"))}</p></header>'
                   + "".join(_finding(f, ids[id(f)]) for f in lf) + "</section>")
    if sec.layers.get(None):
        out.append(_findings_box("Merged filesystem", sec.layers[None], ids))
    out.append("</section>")
    return "".join(out)


def render_html(doc: Mapping[str, Any]) -> str:
    ok = doc["verdict"] == "reproducible"
    top, plats = sections(doc)
    # one id per finding, in page order; the cause table links to each cause's first one
    ids: dict[int, str] = {}
    first: dict[str, str] = {}
    ordered = list(top) + [f for sec in plats for f in
                           list(sec.head) + [x for k in sorted(sec.layers, key=lambda k: (k is None, k or 0))
                                             for x in sec.layers[k]]]
    for n, f in enumerate(ordered, 1):
        ids[id(f)] = f"f{n}"
        first.setdefault(f.get("cause") or "unexplained", f"f{n}")

    title = "reproducible" if ok else "not reproducible"
    parts = ["<!doctype html><html lang=en><head><meta charset=utf-8>"
             "<meta name=viewport content='width=device-width,initial-scale=1'>"
             f"<title>repro: {title}</title><style>{_CSS}</style></head><body>",
             "<h1>repro report</h1>", _verdict(doc, ok)]
    boxes = [_images_box(doc)]
    if "build" in doc:
        boxes.append(_build_box(doc["build"]))
    boxes += [_policy_box(doc), _causes_box(doc, first), _comparisons_box(doc)]
    parts.append('<section id="summary"><h2>Summary</h2><div class="grid">' + "".join(b for b in boxes if b)
                 + "</div></section>")
    if top:
        parts.append('<section id="index"><h2>Index</h2>' + _findings_box("Index", top, ids) + "</section>")
    parts += [_platform(doc, sec, ids) for sec in plats]
    ignored = list(doc.get("ignored") or [])
    if ignored:
        cards = "".join(_finding(f, f"ignored{n}") for n, f in enumerate(ignored[:500], 1))
        more = f"<p class=muted>{len(ignored) - 500} more in the JSON report.</p>" if len(ignored) > 500 else ""
        parts.append(f'<section id="set-aside" class="set-aside"><h2>Set aside by the policy ({len(ignored)})</h2>'
                     f"<details><summary>Show what the policy set aside</summary>{cards}{more}</details></section>")
    tool = doc.get("tool", {})
    parts.append(f"<footer>{escape(str(tool.get('name')))} {escape(str(tool.get('version')))} · schema "
                 f"{escape(str(doc['schema']))} · the JSON report (<code>--format json</code>) holds every field"
                 "</footer></body></html>\n")
    # no raw control character reaches the page, whatever a name holds (repro/report/escape.py)
    return controls("".join(parts), keep_newlines=True)
