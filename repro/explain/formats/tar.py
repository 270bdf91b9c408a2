"""Tar archives inside the image (not the layers themselves: those are the differ's job).

Entries are paired by name and compared field by field: presence, type, size, linkname,
content (sha256 of the bytes), mtime, uid, gid, uname, gname, mode, PAX records, and the
order of the names both sides share. `metadata_only` is true when nothing but mtime,
ownership, mode, PAX records or order differs: what `tar --mtime --sort=name --owner=0`
would have made equal. At most MAX_MEMBERS entries and MAX_READ content bytes per side are
read; `truncated` says when a limit was hit (then content equality is not claimed).
"""

from __future__ import annotations

import hashlib
import io
import tarfile

from repro.explain.formats.base import Detail, Format, LookContext, guarded, pair

MAX_MEMBERS = 10_000
MAX_READ = 32 << 20
MAX_LISTED = 50  # differing entries named in the detail

METADATA = ("mtime", "uid", "gid", "uname", "gname", "mode", "pax")
STRUCTURE = ("type", "size", "linkname", "content")
TYPES = {tarfile.REGTYPE: "file", tarfile.AREGTYPE: "file", tarfile.DIRTYPE: "dir",
         tarfile.SYMTYPE: "symlink", tarfile.LNKTYPE: "hardlink", tarfile.CHRTYPE: "char",
         tarfile.BLKTYPE: "block", tarfile.FIFOTYPE: "fifo", tarfile.CONTTYPE: "file"}


def read_entries(data: bytes) -> tuple[dict[str, dict[str, object]], list[str], bool]:
    """name → fields, names in archive order, and whether a limit cut the reading."""
    entries: dict[str, dict[str, object]] = {}
    order: list[str] = []
    budget = MAX_READ
    truncated = False
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tf:
        for n, m in enumerate(tf):
            if n >= MAX_MEMBERS:
                truncated = True
                break
            name = m.name.lstrip("/").removeprefix("./") or "."
            content = None
            if m.isreg():
                if m.size <= budget:
                    f = tf.extractfile(m)
                    content = hashlib.sha256(f.read(m.size) if f else b"").hexdigest()
                    budget -= m.size
                else:
                    truncated = True
            pax = {k: v for k, v in m.pax_headers.items()
                   if k not in ("path", "linkpath", "size", "uid", "gid", "uname", "gname",
                                "mtime")}
            entries[name] = {
                "type": TYPES.get(m.type, m.type.decode("latin-1")), "size": m.size,
                "linkname": m.linkname, "content": content, "mtime": m.mtime, "uid": m.uid,
                "gid": m.gid, "uname": m.uname, "gname": m.gname, "mode": oct(m.mode),
                "pax": pax,
            }
            order.append(name)
    return entries, order, truncated


@guarded
def look(path: str, a: bytes, b: bytes, ctx: LookContext) -> Detail | None:
    ea, order_a, cut_a = read_entries(a)
    eb, order_b, cut_b = read_entries(b)
    if not order_a and not order_b:
        return None  # tarfile reads many garbage inputs as an empty archive
    truncated = cut_a or cut_b
    differ: list[dict[str, object]] = []
    fields_seen: set[str] = set()
    for name in order_a:
        if name not in eb:
            continue
        fa, fb = ea[name], eb[name]
        fields = [f for f in STRUCTURE + METADATA
                  if fa[f] != fb[f] and not (f == "content" and None in (fa[f], fb[f]))]
        if fields:
            fields_seen.update(fields)
            item: dict[str, object] = {"name": name, "fields": fields}
            for f in fields:
                if f in ("mtime", "uid", "gid", "uname", "gname", "mode"):
                    item[f] = pair(fa[f], fb[f])
            differ.append(item)
    only_a = [n for n in order_a if n not in eb]
    only_b = [n for n in order_b if n not in ea]
    common_a = [n for n in order_a if n in eb]
    common_b = [n for n in order_b if n in ea]
    order_differs = common_a != common_b
    metadata_only = (
        not truncated and not only_a and not only_b
        and not fields_seen & set(STRUCTURE)
        and (bool(fields_seen) or order_differs)
    )
    return {
        "entries": pair(len(order_a), len(order_b)),
        "entries_differ": differ[:MAX_LISTED],
        "entries_differ_count": len(differ),
        "fields_differ": sorted(fields_seen),
        "only_a": only_a[:MAX_LISTED],
        "only_b": only_b[:MAX_LISTED],
        "order_differs": order_differs,
        "metadata_only": metadata_only,
        "truncated": truncated,
    }


FORMAT = Format(name="tar", look=look, globs=("**/*.tar",), magic=(b"ustar",),
                magic_offset=257)
