"""`repro inspect`: what an image holds, level by level (index, manifests, config, layers)."""

from __future__ import annotations

import datetime as _dt
import stat
from typing import Any, Mapping

from repro.diff.finding import jsonable, printable
from repro.oci.layer_index import iter_entries
from repro.oci.model import Image, thaw
from repro.report.escape import controls

_TYPE_CHAR = {"file": "-", "dir": "d", "symlink": "l", "hardlink": "h", "char": "c", "block": "b", "fifo": "p",
              "whiteout": "w", "opaque": "o"}


def inspect_image(img: Image, *, files: bool = False, max_entries: int = 300_000) -> dict[str, Any]:
    doc: dict[str, Any] = {"ref": img.ref, "kind": img.kind, "digest": img.digest,
                           "index": {"annotations": dict(img.index.get("annotations") or {})} if img.index else None,
                           "manifests": []}
    for m in img.manifests:
        cfg = m.config if isinstance(m.config, Mapping) else {}
        cc = cfg.get("config") if isinstance(cfg.get("config"), Mapping) else {}
        entry: dict[str, Any] = {
            "platform": str(m.platform) if m.platform else None,
            "role": "attestation" if m.is_attestation else "image",
            "digest": m.descriptor.digest, "media_type": m.descriptor.media_type, "size": m.descriptor.size,
            "annotations": dict(m.descriptor.annotations),
            "config": {"digest": m.config_descriptor.digest, "created": cfg.get("created"),
                       "env": thaw(cc.get("Env")), "entrypoint": thaw(cc.get("Entrypoint")),
                       "cmd": thaw(cc.get("Cmd")), "workdir": cc.get("WorkingDir"), "user": cc.get("User"),
                       "labels": thaw(cc.get("Labels"))},
            "layers": [],
        }
        for layer in m.layers:
            ld: dict[str, Any] = {"index": layer.index, "digest": layer.descriptor.digest,
                                  "media_type": layer.descriptor.media_type, "size": layer.descriptor.size,
                                  "diff_id": layer.diff_id, "instruction": layer.instruction}
            if files and not m.is_attestation:
                with img.open_layer(layer) as stream:
                    ld["entries"] = [_entry_json(e) for e, _ in iter_entries(stream, max_entries=max_entries)]
            entry["layers"].append(ld)
        doc["manifests"].append(entry)
    return jsonable(doc)


def _entry_json(e: Any) -> dict[str, Any]:
    d = {"path": printable(e.path), "type": e.type, "mode": f"{e.mode:04o}", "uid": e.uid, "gid": e.gid,
         "size": e.size, "mtime": e.mtime}
    if e.linkname:
        d["linkname"] = printable(e.linkname)
    if e.digest:
        d["digest"] = e.digest
    if e.xattrs:
        d["xattrs"] = {k: v.decode("utf-8", "backslashreplace") for k, v in e.xattrs.items()}
    return d


def _when(mtime: str) -> str:
    try:
        return _dt.datetime.fromtimestamp(float(mtime), _dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    except (ValueError, OverflowError, OSError):
        return mtime


def render_inspect(doc: Mapping[str, Any]) -> str:
    out = [f"{doc['ref']}  ({doc['kind']})", f"digest: {doc['digest']}"]
    if doc.get("index") and doc["index"]["annotations"]:
        for k, v in sorted(doc["index"]["annotations"].items()):
            out.append(f"  annotation {k}={v}")
    for m in doc["manifests"]:
        out.append("")
        role = " (attestation)" if m["role"] == "attestation" else ""
        out.append(f"{m['platform'] or 'unknown platform'}{role}: manifest {m['digest']}")
        out.append(f"  media type: {m['media_type']}")
        c = m["config"]
        out.append(f"  config {c['digest']}" + (f"  created {c['created']}" if c.get("created") else ""))
        for label, key in (("entrypoint", "entrypoint"), ("cmd", "cmd"), ("workdir", "workdir"), ("user", "user")):
            if c.get(key):
                out.append(f"    {label}: {c[key]}")
        for e in c.get("env") or []:
            out.append(f"    env: {e}")
        for k, v in sorted((c.get("labels") or {}).items()):
            out.append(f"    label: {k}={v}")
        for l in m["layers"]:
            out.append(f"  layer {l['index']}  {l['size']:>12,} B  {l['digest'][:19]}  diffID {l['diff_id'][:19]}"
                       f"  {l['instruction'] or ''}".rstrip())
            for e in l.get("entries", []):
                link = f" -> {e['linkname']}" if e.get("linkname") else ""
                out.append(f"    {_TYPE_CHAR.get(e['type'], '?')}{stat.filemode(int(e['mode'], 8))[1:]} "
                           f"{e['uid']:>5}/{e['gid']:<5} {e['size']:>10} {_when(e['mtime'])} {e['path']}{link}")
    # names, labels, history and annotations come from the image: no newline or escape
    # sequence of theirs reaches the terminal (repro/report/escape.py)
    return "\n".join(controls(line) for line in out) + "\n"
