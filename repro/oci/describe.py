"""A description of an opened image, level by level: index annotations, manifests
(platform, role, config summary) and layers, with `files` every entry of every layer.
`repro inspect` prints it as JSON, or as text (repro/cli/inspect.py). Names and values
are as the image has them: a tar name that is not UTF-8 keeps its surrogate escapes
(repro.diff.finding.jsonable makes the document encodable)."""

from __future__ import annotations

from typing import Any, Mapping

from repro.oci.layer_index import iter_entries
from repro.oci.model import Entry, Image, thaw


def describe_image(img: Image, *, files: bool = False, max_entries: int = 300_000,
                   digests: bool = True) -> dict[str, Any]:
    """What `img` holds (see the module docstring); layers are read only with `files`
    (and their regular files hashed only with `digests`, for listings that show them)."""
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
                    ld["entries"] = [_entry_json(e) for e, _ in iter_entries(stream, max_entries=max_entries,
                                                                         digests=digests)]
            entry["layers"].append(ld)
        doc["manifests"].append(entry)
    return doc


def _entry_json(e: Entry) -> dict[str, Any]:
    d = {"path": e.path, "type": e.type, "mode": f"{e.mode:04o}", "uid": e.uid, "gid": e.gid,
         "size": e.size, "mtime": e.mtime}
    if e.linkname:
        d["linkname"] = e.linkname
    if e.digest:
        d["digest"] = e.digest
    if e.xattrs:
        d["xattrs"] = {k: v.decode("utf-8", "backslashreplace") for k, v in e.xattrs.items()}
    return d
