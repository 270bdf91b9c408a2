"""zip archives (`.zip`, `.jar`, `.war`, `.whl`, ...): entry times, order and content.

Entries are paired by name from the central directory. Content equality is judged from
the CRC-32 and uncompressed size the directory records, so nothing is inflated (no
decompression bombs; a crafted archive can lie, which only misleads an explanation).
Compared per entry: `date_time` (local time, 2-second resolution), `extra` (where the
extended-timestamp field "UT" keeps exact mtimes), `external_attr` (mode), `compress_type`,
`comment`; and the order of the names both sides share. `content_equal` is true when the
same names hold the same bytes; `metadata_only` when, on top of that, only times, extras,
modes or order differ: what `zip -X`, `preserveFileTimestamps=false` or
`project.build.outputTimestamp` would have made equal. Up to MAX_LOOKED entries whose
content differs are inflated (MAX_ENTRY bytes each at most) and looked inside one level
deeper (`entries_looked`); when every one of them differs by dates (or by random values),
`timestamps` (or `random`) is lifted to the zip's own detail.
"""

from __future__ import annotations

import io
import zipfile

from repro.explain.formats.base import Detail, Format, LookContext, guarded, pair

MAX_MEMBERS = 20_000
MAX_LISTED = 50
MAX_LOOKED = 8  # content-differing entries looked inside
MAX_ENTRY = 1 << 20  # bytes inflated per side of one entry looked inside (no zip bombs)
METADATA = ("date_time", "extra", "external_attr", "compress_type", "comment")


def read_entries(data: bytes) -> tuple[dict[str, dict[str, object]], list[str], bool]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        infos = zf.infolist()
    truncated = len(infos) > MAX_MEMBERS
    entries: dict[str, dict[str, object]] = {}
    order: list[str] = []
    for i in infos[:MAX_MEMBERS]:
        y, mo, d, h, mi, s = i.date_time
        entries[i.filename] = {
            "crc": i.CRC, "size": i.file_size,
            "date_time": f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}",
            "extra": i.extra.hex(), "external_attr": i.external_attr,
            "compress_type": i.compress_type, "comment": i.comment.hex(),
        }
        order.append(i.filename)
    return entries, order, truncated


@guarded
def look(path: str, a: bytes, b: bytes, ctx: LookContext) -> Detail | None:
    ea, order_a, cut_a = read_entries(a)
    eb, order_b, cut_b = read_entries(b)
    differ: list[dict[str, object]] = []
    fields_seen: set[str] = set()
    content_differs: list[str] = []
    for name in order_a:
        if name not in eb:
            continue
        fa, fb = ea[name], eb[name]
        if (fa["crc"], fa["size"]) != (fb["crc"], fb["size"]):
            content_differs.append(name)
        fields = [f for f in METADATA if fa[f] != fb[f]]
        if fields:
            fields_seen.update(fields)
            item: dict[str, object] = {"name": name, "fields": fields}
            if "date_time" in fields:
                item["date_time"] = pair(fa["date_time"], fb["date_time"])
            differ.append(item)
    only_a = [n for n in order_a if n not in eb]
    only_b = [n for n in order_b if n not in ea]
    order_differs = [n for n in order_a if n in eb] != [n for n in order_b if n in ea]
    content_equal = not (cut_a or cut_b or only_a or only_b or content_differs)
    inner = _look_into(a, b, content_differs[:MAX_LOOKED], ctx)
    return {
        **inner,
        "entries": pair(len(order_a), len(order_b)),
        "entries_differ": differ[:MAX_LISTED],
        "fields_differ": sorted(fields_seen),
        "content_differs": content_differs[:MAX_LISTED],
        "only_a": only_a[:MAX_LISTED],
        "only_b": only_b[:MAX_LISTED],
        "order_differs": order_differs,
        "content_equal": content_equal,
        "metadata_only": content_equal and (bool(fields_seen) or order_differs),
        "truncated": cut_a or cut_b,
    }


def _read(data: bytes, name: str) -> bytes | None:
    with zipfile.ZipFile(io.BytesIO(data)) as zf, zf.open(name) as f:
        got = f.read(MAX_ENTRY + 1)
    return None if len(got) > MAX_ENTRY else got


def _look_into(a: bytes, b: bytes, names: list[str], ctx: LookContext) -> Detail:
    """Looks inside entries whose content differs; dates or random values found there are
    lifted (`timestamps`, `random`, with the entry's name), so a zip whose only change is
    a date in one entry gets that cause."""
    looked: dict[str, Detail] = {}
    for name in names:
        try:
            ea, eb = _read(a, name), _read(b, name)
        except Exception:  # noqa: BLE001 - a broken entry is simply not looked at
            continue
        if ea is None or eb is None or ea == eb:
            continue
        inner = ctx.nested(name, ea, eb)
        if inner:
            looked[name] = inner
    out: Detail = {}
    if looked:
        out["entries_looked"] = looked
        stamps = [dict(t, entry=n) for n, d in looked.items() for t in d.get("timestamps") or ()]
        if stamps and all(d.get("timestamps") for d in looked.values()) and len(looked) == len(names):
            out["timestamps"] = stamps[:MAX_LISTED]
        randoms = {n: d["random"] for n, d in looked.items() if d.get("random")}
        if randoms and len(randoms) == len(names):
            out["random"] = next(iter(randoms.values()))
    return out


FORMAT = Format(
    name="zip", look=look, compressed=True,
    globs=("**/*.zip", "**/*.jar", "**/*.war", "**/*.ear", "**/*.whl", "**/*.egg",
           "**/*.aar", "**/*.nupkg"),
    magic=(b"PK\x03\x04", b"PK\x05\x06"),
)
