"""The entries of nested archives (a tar, a zip, a tar inside a gzip) that differ, as
rows every renderer shows the same way: text and Markdown list them, HTML draws a table.

The explain formats (repro/explain/formats/tar.py, zip.py, gz.py) put them in a finding's
detail: `entries_differ` (name, fields, and an {a, b} pair per differing value),
`content_differs`, `only_a`/`only_b`, counts and flags; a compressed file's look holds
its payload's look under `payload`.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Any, Mapping


@dataclass(frozen=True)
class EntryRow:
    name: str
    differs_in: str                 # "mtime", "date_time, extra", "content", "only in A"
    a: tuple[tuple[str, str], ...]  # (field, value shown) per differing value
    b: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Listing:
    title: str             # "entries of the tar archive", "inside the gzip payload: entries of the tar"
    rows: tuple[EntryRow, ...]
    notes: tuple[str, ...]  # "3 of 3 entries differ", "only metadata differs ..."


def _when(v: Any) -> str:
    try:
        return _dt.datetime.fromtimestamp(float(v), _dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (TypeError, ValueError, OverflowError, OSError):
        return ""


def shown(field: str, v: Any) -> str:
    """A value as a reader wants it: an mtime as a UTC date (the JSON report keeps the number)."""
    if field == "mtime" and _when(v):
        return _when(v)
    return str(v)


def _is_pair(v: Any) -> bool:
    return isinstance(v, Mapping) and set(v) == {"a", "b"}


def _listing(d: Mapping[str, Any], title: str) -> Listing:
    rows = []
    for e in d.get("entries_differ") or []:
        if not isinstance(e, Mapping):
            continue
        pairs = [(str(k), v) for k, v in e.items() if k not in ("name", "fields") and _is_pair(v)]
        rows.append(EntryRow(str(e.get("name", "")), ", ".join(str(x) for x in e.get("fields") or []),
                             tuple((k, shown(k, v["a"])) for k, v in pairs),
                             tuple((k, shown(k, v["b"])) for k, v in pairs)))
    rows += [EntryRow(str(n), "content", (), ()) for n in d.get("content_differs") or []]
    for side, key in (("A", "only_a"), ("B", "only_b")):
        rows += [EntryRow(str(n), f"only in {side}", (), ()) for n in d.get(key) or []]
    notes = []
    total = d.get("entries")
    n_differ = int(d.get("entries_differ_count", len(d.get("entries_differ") or [])) or 0)
    if _is_pair(total):
        of = f"{total['a']}" if total["a"] == total["b"] else f"{total['a']} in A, {total['b']} in B"
        notes.append(f"{n_differ} of {of} {'entry differs' if n_differ == 1 else 'entries differ'}")
    if d.get("order_differs"):
        notes.append("the order of the entries differs")
    if d.get("metadata_only"):
        notes.append("only metadata differs: the files inside hold the same bytes")
    elif d.get("content_equal"):
        notes.append("the entries hold the same bytes")
    if d.get("truncated"):
        notes.append("a size or count limit cut the reading short")
    listed = len(d.get("entries_differ") or [])
    if listed < n_differ:
        notes.append(f"the first {listed} are listed")
    return Listing(title, tuple(rows), tuple(notes))


def listings(detail: Mapping[str, Any], *, _depth: int = 0) -> list[Listing]:
    """Every nested archive listing in a finding's detail, outermost first."""
    out: list[Listing] = []
    fmt = detail.get("format")
    if "entries_differ" in detail:
        what = f"the {fmt} archive" if fmt else "the archive"
        out.append(_listing(detail, f"entries of {what} that differ"))
    payload = detail.get("payload")
    if isinstance(payload, Mapping) and _depth < 3:
        for inner in listings(payload, _depth=_depth + 1):
            out.append(Listing(f"inside the {fmt or 'compressed'} payload: {inner.title.replace('archive ', '', 1)}",
                               inner.rows, inner.notes))
    return out


def is_archive(detail: Mapping[str, Any]) -> bool:
    """Whether the detail lists archive entries (then renderers show them as a listing)."""
    return "entries_differ" in detail


__all__ = ["EntryRow", "Listing", "is_archive", "listings", "shown"]
