"""ar archives inside the image: Debian packages (`.deb`, `.udeb`) and static libraries (`.a`).

Members are paired by name and their headers compared (mtime, uid, gid, mode, size) and
their bytes; a member whose bytes differ is looked at one level deeper (a .deb's
`data.tar.xz` holds a tar). The first such look is kept under `payload` (the rules read
nested looks there, with its `member` name), the others under `member_looks`. `metadata_only` is true when nothing but
header times, owners and modes differ, and every member whose bytes differ differs only in
metadata itself (a tar whose entries differ in mtime, a gzip whose header alone differs):
what `SOURCE_DATE_EPOCH` for dpkg-deb, or `ar D`, would have made equal. GNU (`//` long
names) and BSD (`#1/N`) names are read; at most MAX_MEMBERS members.
"""

from __future__ import annotations

import hashlib
from typing import Any

from repro.explain.formats.base import Detail, Format, LookContext, guarded

MAGIC = b"!<arch>\n"
MAX_MEMBERS = 10_000
MAX_LISTED = 50
HEADER_FIELDS = ("mtime", "uid", "gid", "mode")


def members(data: bytes) -> list[tuple[str, dict[str, Any], bytes]]:
    """(name, header fields, bytes) of every member, in archive order."""
    out: list[tuple[str, dict[str, Any], bytes]] = []
    pos, longnames = len(MAGIC), b""
    while pos + 60 <= len(data) and len(out) < MAX_MEMBERS:
        h = data[pos : pos + 60]
        if h[58:60] != b"`\n":
            raise ValueError("not an ar member header")
        raw = h[:16].rstrip(b" ")
        size = int(h[48:58].strip() or b"0")
        body = data[pos + 60 : pos + 60 + size]
        pos += 60 + size + (size & 1)
        if len(body) != size:
            raise ValueError("ar member cut short")
        if raw == b"//":
            longnames = body
            continue
        if raw.startswith(b"#1/"):  # BSD: the name leads the body
            n = int(raw[3:])
            raw, body = body[:n].rstrip(b"\0"), body[n:]
        elif raw.startswith(b"/") and raw[1:].isdigit() and longnames:
            start = int(raw[1:])
            raw = longnames[start : longnames.find(b"\n", start)].rstrip(b"/")
        elif raw != b"/":
            raw = raw.rstrip(b"/")
        fields = {"mtime": int(h[16:28].strip() or b"0"), "uid": int(h[28:34].strip() or b"0"),
                  "gid": int(h[34:40].strip() or b"0"), "mode": h[40:48].strip().decode("ascii"),
                  "size": len(body)}
        out.append((raw.decode("utf-8", "surrogateescape"), fields, body))
    if len(out) < MAX_MEMBERS and pos < len(data) or not out:
        raise ValueError("not an ar archive")  # trailing bytes that are no member
    return out


def _metadata_only(d: Any) -> bool:
    """A nested look that found only metadata differing (at any payload depth)."""
    for _ in range(4):
        if not isinstance(d, dict):
            return False
        if d.get("metadata_only"):
            return True
        if d.get("format") in ("gzip", "xz") and d.get("payload_equal"):
            return True
        d = d.get("payload")
    return False


@guarded
def look(path: str, a: bytes, b: bytes, ctx: LookContext) -> Detail | None:
    if not (a.startswith(MAGIC) and b.startswith(MAGIC)):
        return None
    ma, mb = members(a), members(b)
    na, nb = [m[0] for m in ma], [m[0] for m in mb]
    by_a = {n: (f, body) for n, f, body in ma}
    by_b = {n: (f, body) for n, f, body in mb}
    differ: list[dict[str, Any]] = []
    fields: set[str] = set()
    looks: dict[str, Detail] = {}
    structure = na != nb
    for name in dict.fromkeys(na + nb):
        if name not in by_a or name not in by_b:
            differ.append({"name": name, "only_in": "a" if name in by_a else "b"})
            structure = True
            continue
        (fa, xa), (fb, xb) = by_a[name], by_b[name]
        changed = [k for k in HEADER_FIELDS if fa[k] != fb[k]]
        same = xa == xb
        if not same:
            changed.append("content")
            if len(looks) < MAX_LISTED:
                looks[name] = ctx.nested(name, xa, xb)
        if changed:
            fields.update(changed)
            entry: dict[str, Any] = {"name": name, "fields": changed}
            if not same:
                entry["sha256"] = {"a": hashlib.sha256(xa).hexdigest(), "b": hashlib.sha256(xb).hexdigest()}
            differ.append(entry)
    detail: Detail = {
        "members": {"a": len(na), "b": len(nb)},
        "members_differ": differ[:MAX_LISTED],
        "fields_differ": sorted(fields),
        "metadata_only": bool(differ) and not structure and all(_metadata_only(d) for d in looks.values())
        and len(looks) == sum("content" in d.get("fields", ()) for d in differ),
    }
    if looks:
        # the member that says most first: one that differs in more than metadata
        first, *rest = sorted(looks, key=lambda n: _metadata_only(looks[n]))
        detail["payload"] = dict(looks[first], member=first)
        if rest:
            detail["member_looks"] = {n: looks[n] for n in rest}
    return detail


FORMAT = Format(name="ar", look=look, globs=("**/*.deb", "**/*.udeb", "**/*.a"), magic=(MAGIC,),
                compressed=True)  # members are compressed or binary: no heuristics on the raw bytes
