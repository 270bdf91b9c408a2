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
