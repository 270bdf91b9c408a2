"""Compare JSON documents (manifests, configs, indexes) key by key, not byte by byte.

Each function returns `(field, a, b, detail)` tuples; the engine turns them into Findings
with its platform context. Values are JSON-ready (frozen mappings are thawed).
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping

from repro.oci.model import thaw

Difference = tuple[str, Any, Any, dict[str, Any]]

_MISSING = object()


def _val(v: Any) -> Any:
    return None if v is _MISSING else thaw(v)


def compare_annotations(a: Mapping[str, str] | None, b: Mapping[str, str] | None,
                        **detail: Any) -> Iterator[Difference]:
    """One difference per annotation key that differs (added, removed or changed)."""
    a, b = a or {}, b or {}
    for k in sorted(set(a) | set(b)):
        va, vb = a.get(k, _MISSING), b.get(k, _MISSING)
        if va != vb:
            yield "annotations", _val(va), _val(vb), {"key": k, **detail}


# Keys of an image config with their own comparison; everything else is generic.
_CONFIG_SKIP = {"rootfs"}  # diff_ids are compared as layers; rootfs.type below


def compare_config(a: Mapping[str, Any], b: Mapping[str, Any]) -> Iterator[Difference]:
    """Image config, key by key. Fields are dotted paths: `created`, `config.Env`,
    `config.Labels.KEY`, `history` (one difference per history entry and key)."""
    for k in sorted(set(a) | set(b)):
        va, vb = a.get(k, _MISSING), b.get(k, _MISSING)
        if va == vb or k in _CONFIG_SKIP:
            continue
        if k == "history":
            yield from _compare_history(va, vb)
        elif k == "config" and isinstance(va, Mapping) and isinstance(vb, Mapping):
            yield from _compare_container_config(va, vb)
        else:
            yield k, _val(va), _val(vb), {}
    ra, rb = a.get("rootfs"), b.get("rootfs")
    ta = ra.get("type") if isinstance(ra, Mapping) else None
    tb = rb.get("type") if isinstance(rb, Mapping) else None
    if ta != tb:
        yield "rootfs.type", ta, tb, {}


def _compare_container_config(a: Mapping[str, Any], b: Mapping[str, Any]) -> Iterator[Difference]:
    for k in sorted(set(a) | set(b)):
        va, vb = a.get(k, _MISSING), b.get(k, _MISSING)
        if va == vb:
            continue
        if k == "Labels" and isinstance(va, Mapping) and isinstance(vb, Mapping):
            for lk in sorted(set(va) | set(vb)):
                la, lb = va.get(lk, _MISSING), vb.get(lk, _MISSING)
                if la != lb:
                    yield f"config.Labels.{lk}", _val(la), _val(lb), {}
        elif k == "Env" and isinstance(va, (list, tuple)) and isinstance(vb, (list, tuple)):
            only_a = [e for e in va if e not in vb]
            only_b = [e for e in vb if e not in va]
            detail = {"only_a": list(only_a), "only_b": list(only_b)}
            if not only_a and not only_b:
                detail["order_only"] = True
            yield "config.Env", _val(va), _val(vb), detail
        else:
            yield f"config.{k}", _val(va), _val(vb), {}


def _compare_history(a: Any, b: Any) -> Iterator[Difference]:
    if not isinstance(a, (list, tuple)) or not isinstance(b, (list, tuple)):
        yield "history", _val(a), _val(b), {}
        return
    for i in range(max(len(a), len(b))):
        ha = a[i] if i < len(a) else _MISSING
        hb = b[i] if i < len(b) else _MISSING
        if ha == hb:
            continue
        if not isinstance(ha, Mapping) or not isinstance(hb, Mapping):
            yield "history", _val(ha), _val(hb), {"index": i}
            continue
        for k in sorted(set(ha) | set(hb)):
            va, vb = ha.get(k, _MISSING), hb.get(k, _MISSING)
            if va != vb:
                yield "history", _val(va), _val(vb), {"index": i, "key": k}


def compare_top_level(a: Mapping[str, Any], b: Mapping[str, Any], skip: set[str]) -> Iterator[Difference]:
    """Remaining top-level keys of a manifest or index (schemaVersion, artifactType, subject...)."""
    for k in sorted(set(a) | set(b)):
        if k in skip:
            continue
        va, vb = a.get(k, _MISSING), b.get(k, _MISSING)
        if va != vb:
            field = "media_type" if k == "mediaType" else k
            yield field, _val(va), _val(vb), {}


# -- the tree of indexes above the manifests ----------------------------------------------

INDEX_TYPES = frozenset({"application/vnd.oci.image.index.v1+json",
                         "application/vnd.docker.distribution.manifest.list.v2+json"})
MANIFEST_TYPES = frozenset({"application/vnd.oci.image.manifest.v1+json",
                            "application/vnd.docker.distribution.manifest.v2+json"})
# descriptor keys a lower level explains: a manifest's digest and size change with its
# content (compared below), a nested index's with its entries (compared by recursion)
_EXPLAINED_BELOW = {"digest", "size"}
_FIELD_NAMES = {"mediaType": "media_type", "artifactType": "artifact_type"}

# (platform or None, field, a, b, detail)
IndexDifference = tuple["str | None", str, Any, Any, dict[str, Any]]


class IndexView:
    """What the index comparison needs of one image: its top-level index, every index
    document walked (by digest), and for each manifest digest whether it is an
    attestation (and of which manifest) and its platform."""

    def __init__(self, root: Mapping[str, Any] | None, indexes: Mapping[str, Mapping[str, Any]],
                 manifests: Mapping[str, tuple[str | None, str | None]]) -> None:
        self.root, self.indexes = root, indexes
        self.manifests = manifests  # digest -> (attests or None, platform or None)


def compare_indexes(a: IndexView, b: IndexView, platform: str | None = None) -> Iterator[IndexDifference]:
    """Every difference above the manifests: the index documents' own fields, and each
    entry of their `manifests` lists (its platform, annotations, urls, artifactType, data,
    media type; its presence and position). Entries are paired by what they are (image
    manifest by platform, attestation by the platform it describes, nested index, other
    media type) and occurrence, not by position, so reordering is one `order` difference.

    With `platform`, only the entries for that platform (and the nested indexes on the
    way to them) are compared: the other platforms were not read."""
    if a.root is None or b.root is None:
        return
    yield from _compare_index(a, b, a.root, b.root, "index", platform)


def _platform_name(p: Any) -> str | None:
    if not isinstance(p, Mapping):
        return None
    parts = [p.get("os"), p.get("architecture")]
    if p.get("variant"):
        parts.append(p.get("variant"))
    return "/".join(str(x) for x in parts) if all(isinstance(x, str) and x for x in parts[:2]) else None


def _entries(view: IndexView, doc: Mapping[str, Any]) -> list[tuple[tuple[str, str, int], Mapping[str, Any]]]:
    """(key, descriptor) for each entry of `doc`'s manifests: key = (kind, name, occurrence)."""
    entries = doc.get("manifests")
    if not isinstance(entries, (list, tuple)):
        return []
    own = {e.get("digest"): _platform_name(e.get("platform")) for e in entries if isinstance(e, Mapping)}
    seen: dict[tuple[str, str], int] = {}
    out = []
    for e in entries:
        if not isinstance(e, Mapping):
            continue
        mt, digest = e.get("mediaType"), e.get("digest")
        if mt in INDEX_TYPES:
            kind, name = "index", _platform_name(e.get("platform")) or ""
        elif mt in MANIFEST_TYPES:
            attests, plat = view.manifests.get(digest, (None, None))
            if attests is not None:
                kind, name = "attestation", own.get(attests) or view.manifests.get(attests, (None, None))[1] or "unknown"
            else:
                kind, name = "image", _platform_name(e.get("platform")) or plat or "unknown"
        else:
            kind, name = "other", f"{mt} {e.get('artifactType') or ''}".strip()
        n = seen.get((kind, name), 0)
        seen[(kind, name)] = n + 1
        out.append(((kind, name, n), e))
    return out


def _label(key: tuple[str, str, int]) -> str:
    kind, name, n = key
    return f"{kind} {name}".strip() + (f" #{n + 1}" if n else "")


def _compare_index(a: IndexView, b: IndexView, doc_a: Mapping[str, Any], doc_b: Mapping[str, Any], where: str,
                   platform: str | None) -> Iterator[IndexDifference]:
    if platform is None:
        for fld, va, vb, det in compare_top_level(doc_a, doc_b, skip={"manifests", "annotations"}):
            yield None, fld, va, vb, {"index": where, **det}
        for fld, va, vb, det in compare_annotations(doc_a.get("annotations"), doc_b.get("annotations")):
            yield None, fld, va, vb, {"index": where, **det}
    ea, eb = dict(_entries(a, doc_a)), dict(_entries(b, doc_b))

    def wanted(key: tuple[str, str, int]) -> bool:
        return platform is None or key[0] == "index" or (key[0] in ("image", "attestation") and key[1] == platform)

    for key in [k for k in ea if k not in eb and wanted(k)] + [k for k in eb if k not in ea and wanted(k)]:
        kind = key[0]
        if kind in ("image", "attestation") and key[2] == 0:
            continue  # a platform missing on one side is the manifest pairing's finding
        e = ea.get(key) or eb[key]
        yield (key[1] if kind in ("image", "attestation") else None), "presence", key in ea, key in eb, {
            "index": where, "entry": _label(key), "media_type": e.get("mediaType"), "digest": e.get("digest"),
            **({"role": "attestation"} if kind == "attestation" else {})}
    common_a = [k for k in ea if k in eb]
    common_b = [k for k in eb if k in ea]
    if platform is None and common_a != common_b:
        yield None, "order", [_label(k) for k in common_a], [_label(k) for k in common_b], {"index": where}
    for key in common_a:
        if not wanted(key):
            continue
        da, db = ea[key], eb[key]
        kind = key[0]
        plat = key[1] if kind in ("image", "attestation") else None
        extra = {"role": "attestation"} if kind == "attestation" else {}
        for k in sorted(set(da) | set(db)):
            va, vb = da.get(k, _MISSING), db.get(k, _MISSING)
            if va == vb or (k in _EXPLAINED_BELOW and kind != "other"):
                continue
            if k == "annotations" and all(isinstance(v, Mapping) or v is _MISSING for v in (va, vb)):
                va, vb = ({} if v is _MISSING else v for v in (va, vb))
                for fld, x, y, det in compare_annotations(va, vb):
                    if kind == "attestation" and det["key"] == "vnd.docker.reference.digest":
                        continue  # follows the digest of the image it describes, compared there
                    yield plat, fld, x, y, {"index": where, "entry": _label(key), "descriptor": True, **det, **extra}
            elif k == "platform" and isinstance(va, Mapping) and isinstance(vb, Mapping):
                for pk in sorted(set(va) | set(vb)):
                    x, y = va.get(pk, _MISSING), vb.get(pk, _MISSING)
                    if x != y:
                        yield plat, "platform", _val(x), _val(y), {"index": where, "entry": _label(key), "key": pk,
                                                                    **extra}
            else:
                yield plat, _FIELD_NAMES.get(k, k), _val(va), _val(vb), {"index": where, "entry": _label(key),
                                                                         "descriptor": True, **extra}
        if kind == "index" and da.get("digest") != db.get("digest"):
            na, nb = a.indexes.get(da.get("digest")), b.indexes.get(db.get("digest"))
            if na is not None and nb is not None:
                yield from _compare_index(a, b, na, nb, f"{where} > {_label(key)}", platform)
