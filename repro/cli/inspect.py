"""How `repro inspect` shows an image on a terminal: the text form of
repro.oci.describe.describe_image's document."""

from __future__ import annotations

import datetime as _dt
import stat
from typing import Any, Mapping

from repro.report.escape import controls

_TYPE_CHAR = {"file": "-", "dir": "d", "symlink": "l", "hardlink": "h", "char": "c", "block": "b", "fifo": "p",
              "whiteout": "w", "opaque": "o"}


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
