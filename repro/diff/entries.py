"""Compare the entries of two layers (or two merged filesystems) path by path.

Pure functions over `Entry` records: no I/O. Entries are paired by normalised path and
occurrence (a path written twice in one layer is paired with the other side's second
write), so duplicate entries are compared rather than hidden.
"""

from __future__ import annotations

import hashlib
from typing import Any, Callable, Iterable, Mapping, Sequence

from repro.diff.finding import Finding
from repro.oci.model import Entry

Key = tuple[str, int]  # (path, occurrence)


def keyed(entries: Iterable[Entry]) -> dict[Key, Entry]:
    """Entries by (path, occurrence), in stream order (dicts keep insertion order)."""
    seen: dict[str, int] = {}
    out: dict[Key, Entry] = {}
    for e in entries:
        n = seen.get(e.path, 0)
        seen[e.path] = n + 1
        out[(e.path, n)] = e
    return out


def _mode(m: int) -> str:
    return f"{m:04o}"


# A value kept in a finding is shown, not stored: past this, its size and digest stand in
# for it (a 1 MiB PAX record on 200 differing entries must not make a 400 MB report).
MAX_SHOWN = 4096


def _shown(v: str | bytes) -> str:
    if len(v) <= MAX_SHOWN:
        return v.decode("utf-8", "backslashreplace") if isinstance(v, bytes) else v
    data = v if isinstance(v, bytes) else v.encode("utf-8", "surrogateescape")
    return f"<{len(data)} bytes, sha256:{hashlib.sha256(data).hexdigest()}>"


def _xattrs(x: Mapping[str, bytes]) -> dict[str, str]:
    return {k: _shown(v) for k, v in sorted(x.items())}


def _changed_keys(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


def compare_entry(ea: Entry, eb: Entry, make: Callable[..., Finding]) -> list[Finding]:
    """Findings for one pair of entries at the same path; `make(field, a, b, **detail)`."""
    if ea.type != eb.type:
        # Other fields of a file that became a symlink say nothing useful.
        return [make("type", ea.type, eb.type, linkname_a=ea.linkname, linkname_b=eb.linkname)]
    out: list[Finding] = []
    if ea.mode != eb.mode:
        out.append(make("mode", _mode(ea.mode), _mode(eb.mode)))
    for f in ("uid", "gid", "uname", "gname"):
        va, vb = getattr(ea, f), getattr(eb, f)
        if va != vb:
            out.append(make(f, va, vb))
    if ea.mtime != eb.mtime:
        out.append(make("mtime", ea.mtime, eb.mtime))
    if ea.linkname != eb.linkname:
        out.append(make("linkname", _shown(ea.linkname), _shown(eb.linkname), type=ea.type))
    if (ea.devmajor, ea.devminor) != (eb.devmajor, eb.devminor):
        out.append(make("devices", f"{ea.devmajor},{ea.devminor}", f"{eb.devmajor},{eb.devminor}"))
    if ea.xattrs != eb.xattrs:
        xa, xb = _xattrs(ea.xattrs), _xattrs(eb.xattrs)
        out.append(make("xattrs", xa, xb, keys=_changed_keys(xa, xb)))
    if ea.pax != eb.pax:
        out.append(make("pax", {k: _shown(v) for k, v in ea.pax.items()}, {k: _shown(v) for k, v in eb.pax.items()},
                        keys=_changed_keys(ea.pax, eb.pax)))
    if ea.digest != eb.digest:
        out.append(make("content", ea.digest, eb.digest, size_a=ea.size, size_b=eb.size))
    elif ea.size != eb.size:  # only reachable for non-regular entries (hardlinks with a size)
        out.append(make("size", ea.size, eb.size))
    return out


def compare_entries(
    a: Mapping[Key, Entry],
    b: Mapping[Key, Entry],
    make_file: Callable[..., Finding],
) -> list[Finding]:
    """File findings for two keyed entry maps: presence, then per-field differences.

    `make_file(path, field, a, b, entry_a=..., entry_b=..., **detail)` builds a Finding
    with the caller's platform/layer context.
    """
    out: list[Finding] = []
    for key in _union_in_order(a, b):
        ea, eb = a.get(key), b.get(key)
        path = key[0]
        if ea is None or eb is None:
            present = ea or eb
            assert present is not None
            out.append(
                make_file(path, "presence", ea is not None, eb is not None,
                          entry_a=ea, entry_b=eb, type=present.type,
                          **({"occurrence": key[1]} if key[1] else {}))
            )
            continue

        def make(field: str, va: Any, vb: Any, **detail: Any) -> Finding:
            if key[1]:
                detail["occurrence"] = key[1]
            return make_file(path, field, va, vb, entry_a=ea, entry_b=eb, **detail)

        out.extend(compare_entry(ea, eb, make))
    return out


def order_difference(a: Iterable[Key], b: Iterable[Key]) -> dict[str, Any] | None:
    """If the keys both sides share appear in a different order, describe the first divergence.

    Streams over the keys (a million-entry layer is compared without copies of them);
    lists are looked up through sets, mappings (keyed() dicts) directly."""
    in_a = a if isinstance(a, (Mapping, set, frozenset)) else set(a)
    in_b = b if isinstance(b, (Mapping, set, frozenset)) else set(b)
    ca = (k for k in a if k in in_b)
    cb = (k for k in b if k in in_a)
    for i, (x, y) in enumerate(zip(ca, cb)):
        if x != y:
            return {"position": i, "path_a": x[0], "path_b": y[0],
                    "entries": sum(1 for k in a if k in in_b)}
    return None


def _union_in_order(a: Mapping[Key, Entry], b: Mapping[Key, Entry]) -> list[Key]:
    """A's keys in A's order, then B-only keys in B's order: stable and readable."""
    out = list(a)
    out.extend(k for k in b if k not in a)
    return out
