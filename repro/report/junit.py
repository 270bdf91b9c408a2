"""JUnit XML, for CI systems that show test reports (GitLab, Jenkins, Azure, ...).

One test case per platform and layer (plus one for each platform's manifest and config,
and one for the index); each finding is a <failure> of its case. A reproducible image is
a suite of passing cases, so a CI dashboard shows what was compared, not just a verdict.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict
from typing import Any, Mapping

from repro.report.escape import controls


def _line(f: Mapping[str, Any]) -> str:
    what = controls(str(f.get("path") or f["kind"]))
    d = f.get("detail") or {}
    key = f" {controls(str(d['key']))}" if "key" in d else ""
    cause = f" [{f['cause']}]" if f.get("cause") else " [unexplained]"
    chain = ""
    if f.get("stage_chain"):
        from repro.dockerfile.chain import chain_text

        chain = f"\n  made by: {controls(chain_text(f['stage_chain']))}"
    return f"{what}: {controls(f['field'])}{key}: {f.get('a')!r} -> {f.get('b')!r}{cause}" + chain + (
        f"\n  hint: {f['hint']}" if f.get("hint") else "")


def render_junit(doc: Mapping[str, Any]) -> str:
    a, b = doc["inputs"]
    cases: list[tuple[str, str, list[Mapping[str, Any]]]] = []
    by_key: dict[tuple[Any, Any], list[Mapping[str, Any]]] = defaultdict(list)
    for f in doc["findings"]:
        layer = f.get("layer") if f["kind"] in ("layer", "file") else "head"
        by_key[(f.get("platform"), layer)].append(f)
    cases.append(("index", "index", by_key.get((None, "head"), [])))
    for p in doc["platforms"]:
        plat = p["platform"] + (" (attestation)" if p["role"] == "attestation" else "")
        if p["role"] == "attestation":
            fs = [f for f in by_key.get((p["platform"], "head"), []) if f.get("detail", {}).get("role") == "attestation"]
            cases.append((plat, "attestation manifest", fs))
            continue
        head = [f for f in by_key.get((p["platform"], "head"), []) if f.get("detail", {}).get("role") != "attestation"]
        cases.append((plat, "manifest and config", head))
        for layer in p["layers"]:
            name = f"layer {layer['index']}" + (f": {layer['instruction']}" if layer.get("instruction") else "")
            cases.append((plat, name, by_key.get((p["platform"], layer["index"]), [])))
        if by_key.get((p["platform"], None)):
            cases.append((plat, "merged filesystem", by_key[(p["platform"], None)]))

    failures = sum(1 for _, _, fs in cases if fs)
    root = ET.Element("testsuites", name="repro", tests=str(len(cases)), failures=str(failures), errors="0")
    suite = ET.SubElement(root, "testsuite", name=f"repro: {a['ref']} vs {b['ref']}", tests=str(len(cases)),
                          failures=str(failures), errors="0", skipped="0")
    props = ET.SubElement(suite, "properties")
    for k, v in (("verdict", doc["verdict"]), ("image_a", a["digest"]), ("image_b", b["digest"]),
                 ("policy", doc.get("policy", {}).get("mode", "")), ("ignored", str(doc["summary"]["ignored"]))):
        ET.SubElement(props, "property", name=k, value=v)
    for classname, name, fs in cases:
        tc = ET.SubElement(suite, "testcase", classname=classname, name=name)
        if fs:
            causes = sorted({f.get("cause") or "unexplained" for f in fs})
            fail = ET.SubElement(tc, "failure", message=f"{len(fs)} difference(s): {', '.join(causes)}",
                                 type="not-reproducible")
            fail.text = "\n".join(_line(f) for f in fs)
    for el in root.iter():
        # names and values from an image: XML 1.0 cannot hold NUL, ESC and most of C0 at
        # all, so every one is written as visible text (newlines of our own text stay)
        if el.text:
            el.text = controls(el.text, keep_newlines=True)
        for k, v in el.attrib.items():
            el.attrib[k] = controls(v)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
