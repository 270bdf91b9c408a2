"""The report document (schema `repro-report/v1`), built once from a DiffResult.

Every renderer (text, json, markdown, html) reads this one document, so they can never
disagree, and a saved JSON report can be rendered again later. Fields are only ever
added in v1, never renamed or removed (docs/report-format.md).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any, Mapping, Protocol, Sequence

from repro import __version__
from repro.diff.engine import DiffResult, LayerPair, PlatformResult
from repro.diff.finding import Finding, jsonable

SCHEMA = "repro-report/v1"

Report = dict[str, Any]  # a report document: JSON-ready, the same for every renderer


def _layer_side(layer: Any) -> dict[str, Any] | None:
    if layer is None:
        return None
    d = layer.descriptor
    return {"digest": d.digest, "diff_id": layer.diff_id, "media_type": d.media_type, "size": d.size}


def _layer_json(p: LayerPair) -> dict[str, Any]:
    return {"index": p.index, "instruction": p.instruction, "status": p.status,
            "a": _layer_side(p.a), "b": _layer_side(p.b)}


def _platform_json(p: PlatformResult, findings: tuple[Finding, ...] = ()) -> dict[str, Any]:
    def side(m: Any) -> dict[str, Any] | None:
        if m is None:
            return None
        return {"manifest": m.descriptor.digest, "config": m.config_descriptor.digest,
                "media_type": m.descriptor.media_type, "layers": len(m.layers)}

    # the platform's own verdict: a multi-platform check can differ on one platform only
    differs = any(f.platform == p.platform for f in findings)
    return {"platform": p.platform, "role": p.role, "equal": p.equal, "merged": p.merged,
            "verdict": "not-reproducible" if differs else "reproducible",
            "a": side(p.a), "b": side(p.b), "layers": [_layer_json(l) for l in p.layers]}


DIGEST_LABELS = {"index": "index", "manifest": "manifest", "config": "image ID", "image": "digest"}


def digest_label(inp: Mapping[str, Any]) -> str:
    """What an input's digest is, in words: "manifest", "index", "image ID"."""
    return DIGEST_LABELS.get(str(inp.get("digest_of")), "digest")


def input_digest(inp: Mapping[str, Any]) -> str:
    """An input's digest with its label, as every format shows it: "manifest sha256:…"."""
    return f"{digest_label(inp)} {str(inp.get('digest'))[:19]}"


def unknown_count(summary: Mapping[str, Any]) -> int:
    """Findings no rule explains: cause `unknown` (or none, in reports of older versions)."""
    by_cause = summary.get("by_cause") or {}
    return int(by_cause.get("unknown", 0)) + int(by_cause.get("unexplained", 0))


def build_report(result: DiffResult, *, build: Mapping[str, Any] | None = None,
                 findings: tuple[Finding, ...] | None = None, trust_equal_digests: bool | None = None,
                 extra: Mapping[str, Any] | None = None) -> Report:
    """The v1 document. `findings` overrides result.findings (e.g. after explaining);
    `build`: the `build` object (build_document), for `check`; `trust_equal_digests`:
    how blobs were verified, recorded as `verification` (None: not recorded)."""
    fs = result.findings if findings is None else findings
    by_kind = Counter(f.kind for f in fs)
    by_cause = Counter(f.cause or "unexplained" for f in fs)
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "tool": {"name": "repro", "version": __version__},
        "verdict": "reproducible" if not fs else "not-reproducible",
        "inputs": [{"ref": img.ref, "kind": img.kind, "digest": img.digest, "digest_of": img.digest_of}
                   for img in (result.a, result.b)],
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
    doc["platforms"] = [_platform_json(p, tuple(fs)) for p in result.platforms]
    doc["findings"] = [f.to_json() for f in fs]
    doc["ignored"] = [{**f.to_json(), "reason": why} for f, why in result.ignored]
    if extra:
        doc.update(extra)
    if trust_equal_digests is not None:
        doc["verification"] = {"blobs_read": "hashed",
                               "blobs_not_read": "trusted by digest" if trust_equal_digests else "hashed"}
    # refs, platforms and instructions come from the user and the images too: every string
    # must encode as UTF-8 and every number be finite for the renderers
    return jsonable(doc)


class BuildRecord(Protocol):
    """What the report takes from one build (repro.buildkit.BuildResult)."""

    buildkit_version: str
    source_date_epoch: int
    exporter: Mapping[str, str]
    base_digests: Mapping[str, str]
    image_digest: str
    builder: str
    driver: str
    daemon: str
    snapshotter: str
    duration: float
    variations: Sequence[Any]  # repro.buildkit.variations.Applied: what each variation did in this build
    varied: bool
    started: float  # wall-clock time the build's client started


# why the two sets of variations weigh differently (docs/variations.md)
VARIATION_SETS = {
    "default": "the realistic set: what differs between two machines running the same BuildKit",
    "all": "the realistic set and what BuildKit itself keeps fixed (a difference only these provoke is still "
           "reproduced by every BuildKit of this version)",
    "custom": "a chosen set",
    "none": "no variation: the builds started together and saw the same machine",
}


def build_document(results: Sequence[BuildRecord], epoch_source: str, selection: Any = None) -> dict[str, Any]:
    """The report's `build` object: the settings every build shared, and each build.
    `epoch_source`: where SOURCE_DATE_EPOCH came from (flag, repro.toml or git);
    `selection`: the variations chosen for builds 2..N (repro.buildkit.variations.Selection)."""
    import datetime

    first = results[0]
    versions = sorted({r.buildkit_version for r in results})
    doc: dict[str, Any] = {
        "buildkit_version": versions[0] if len(versions) == 1 else versions,
        "source_date_epoch": first.source_date_epoch,
        "exporter": dict(first.exporter),
        "base_digests": dict(first.base_digests),
        "vary": "; ".join(a.value for a in results[-1].variations if a.applied) or None,
        "builds": [{"digest": r.image_digest, "builder": r.builder, "driver": r.driver, "daemon": r.daemon,
                    "snapshotter": r.snapshotter,
                    "duration": round(r.duration, 3), "varied": r.varied,
                    "started": datetime.datetime.fromtimestamp(r.started, datetime.timezone.utc)
                    .isoformat(timespec="milliseconds").replace("+00:00", "Z") if r.started else None,
                    "variations": [a.to_json() for a in r.variations]} for r in results],
        "source_date_epoch_from": epoch_source,
    }
    if selection is not None:
        doc["variations"] = {"set": selection.label, "names": list(selection.names),
                             "strict_only": list(selection.strict_only), "about": VARIATION_SETS[selection.label]}
    return doc


def variation_lines(build: Mapping[str, Any]) -> list[str]:
    """How the builds were varied, in words, for the text and Markdown headers: the set,
    what each varied build got, what could not be applied and why, what --bisect cost."""
    var = build.get("variations")
    if not isinstance(var, Mapping):
        return []
    label = str(var.get("set") or "custom")
    names = ", ".join(str(n) for n in var.get("names") or [])
    out = [f"variations: {label}" + (f" ({names})" if label == "custom" and names else "")
           + f" — {var.get('about') or VARIATION_SETS.get(label, '')}"]
    for i, b in enumerate(build.get("builds") or []):
        applied = [a for a in (b.get("variations") or []) if isinstance(a, Mapping)]
        if i == 0 or not applied:
            continue
        done = [f"{a['name']} ({a.get('value')})" for a in applied if a.get("applied")]
        out.append(f"  build {i + 1}: " + (", ".join(done) or "nothing applied"))
        for a in applied:
            if a.get("not_applied"):
                out.append(f"  {'partly applied' if a.get('applied') else 'not applied'} in build {i + 1}: "
                           f"{a['name']} — {a['not_applied']}")
    bis = build.get("bisect")
    if isinstance(bis, Mapping):
        out.append(f"bisect: {bis.get('builds')} extra builds in {bis.get('seconds')} s (two unvaried references "
                   f"and one build per variation: {', '.join(bis.get('candidates') or []) or 'none'})")
    return out


def provoked_text(f: Mapping[str, Any], build: Mapping[str, Any] | None) -> str | None:
    """A finding's `provoked_by` in words (None when it was not attributed)."""
    by = f.get("provoked_by")
    if by is None:
        return None
    if not by:
        return "no variation — it differs anyway (randomness, the network, the daemon)"
    var = (build or {}).get("variations") or {}
    strict = set(var.get("strict_only") or []) if isinstance(var, Mapping) else set()
    text = ", ".join(str(v) for v in by)
    if strict and set(by) <= strict:
        text += " (strict only: every BuildKit build of this version reproduces it, so it matters less)"
    return text


def name_inputs(doc: Report, names: Mapping[str, str]) -> None:
    """Rename the report's inputs (a temp tarball of `check` is named `build-N` instead)."""
    for inp in doc["inputs"]:
        inp["ref"] = names.get(inp["ref"], inp["ref"])


def comparison_entry(doc: Mapping[str, Any], reported: bool, against: str | None) -> dict[str, Any]:
    """One entry of the report's `comparisons` (docs/report-format.md): the verdict of
    one comparison of `check`; `reported`: its findings are the report's."""
    a, b = doc["inputs"][0], doc["inputs"][1]
    return {"a": a["ref"], "b": b["ref"], "verdict": doc["verdict"], "findings": doc["summary"]["findings"],
            "pair": f"{a['ref']} vs {b['ref']}", "role_a": "against" if a["ref"] == against else "build",
            "role_b": "build", "digest_a": a.get("digest"), "digest_b": b.get("digest"), "reported": reported}


@dataclass(frozen=True)
class Section:
    """One platform of a report, with its findings sorted the way every reader wants
    them: manifest/config first, then per layer (None = the merged filesystem)."""

    platform: Mapping[str, Any]  # the report's platforms[] entry
    head: list[Mapping[str, Any]]  # index, manifest and config findings
    layers: dict[Any, list[Mapping[str, Any]]]  # layer index (or None when merged) -> findings


def sections(doc: Mapping[str, Any]) -> tuple[list[Mapping[str, Any]], list[Section]]:
    """The findings of a report document grouped for rendering: (findings without a
    platform, one Section per platforms[] entry). An attestation entry gets only the
    findings marked `role: attestation`, an image entry only the others."""
    top: list[Mapping[str, Any]] = []
    by_plat: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for f in doc["findings"]:
        (by_plat[f["platform"]] if f.get("platform") else top).append(f)
    out = []
    for p in doc["platforms"]:
        attestation = p["role"] == "attestation"
        fs = [f for f in by_plat.get(p["platform"], [])
              if ((f.get("detail") or {}).get("role") == "attestation") == attestation]
        layers: dict[Any, list[Mapping[str, Any]]] = defaultdict(list)
        for f in fs:
            if f["kind"] in ("layer", "file"):
                layers[f.get("layer")].append(f)
        out.append(Section(p, [f for f in fs if f["kind"] in ("index", "manifest", "config")], layers))
    return top, out


def platform_digests(doc: Mapping[str, Any], p: Mapping[str, Any]) -> str:
    """How a platform's two manifests are named on its line: "manifest A ≠ B", each side
    by the digest its image is known by in the header when that is this manifest's own
    (or, for a docker-archive, its config: the image ID), so one image never shows two
    unlabelled digests."""
    names = [manifest_name(doc, p, side) for side in ("a", "b")]
    if names[0][0] == names[1][0]:
        return f"{names[0][0]} {names[0][1]} ≠ {names[1][1]}"
    return f"differs (A {names[0][0]} {names[0][1]}, B {names[1][0]} {names[1][1]})"


def manifest_name(doc: Mapping[str, Any], p: Mapping[str, Any], side: str) -> tuple[str, str]:
    """(label, short digest) of one side's manifest of a platforms[] entry: the image ID
    for a docker-archive (its header digest; its manifest is made up by repro), else the
    manifest digest."""
    inp, m = doc["inputs"][0 if side == "a" else 1], p[side]
    if inp.get("digest_of") == "config" and m.get("config") == inp.get("digest"):
        return "image ID", str(m["config"])[:19]
    return "manifest", str(m["manifest"])[:19]
