"""ELF objects: the GNU build-id note, the Go build ID, and which sections differ.

The GNU build-id (`.note.gnu.build-id`, note type NT_GNU_BUILD_ID) is a hash of the
linked output, so it changes with any other change (random seeds, embedded paths); Go
keeps its own build ID in `.note.go.buildid` (and as a `\\xff Go build ID: "..."` string
near the start of text on other formats). Section contents are compared by name, so a
reader sees whether the IDs are the only difference (`only_build_id_differs`) or merely a
symptom of others (`sections_differ`). Bounded to MAX_SECTIONS sections and notes.
"""

from __future__ import annotations

import re
import struct

from repro.explain.formats.base import Detail, Format, LookContext, guarded, pair

MAGIC = b"\x7fELF"
MAX_SECTIONS = 4096
MAX_NOTES = 64
MAX_LISTED = 50
SHT_NOBITS, SHT_NOTE = 8, 7
NT_GNU_BUILD_ID, NT_GO_BUILD_ID = 3, 4
GO_BUILDID_RE = re.compile(rb'\xff Go build ID: "([^"\n]{1,200})"\n \xff')
BUILD_ID_SECTIONS = {".note.gnu.build-id", ".note.go.buildid"}


def sections(data: bytes) -> dict[str, tuple[int, bytes]]:
    """Section name → (type, contents) for a well-formed ELF; {} when there are none."""
    if data[:4] != MAGIC or data[4] not in (1, 2) or data[5] not in (1, 2):
        return {}
    is64, end = data[4] == 2, "<" if data[5] == 1 else ">"
    if is64:
        shoff, = struct.unpack_from(end + "Q", data, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from(end + "HHH", data, 0x3A)
        shdr = end + "IIQQQQIIQQ"
    else:
        shoff, = struct.unpack_from(end + "I", data, 0x20)
        shentsize, shnum, shstrndx = struct.unpack_from(end + "HHH", data, 0x2E)
        shdr = end + "IIIIIIIIII"
    if not shoff or shnum > MAX_SECTIONS or shentsize < struct.calcsize(shdr):
        return {}
    raw = []
    for i in range(shnum):
        name, typ, _flags, _addr, off, size, *_ = struct.unpack_from(
            shdr, data, shoff + i * shentsize)
        body = b"" if typ == SHT_NOBITS or off + size > len(data) else data[off : off + size]
        raw.append((name, typ, body))
    if shstrndx >= len(raw):
        return {}
    strtab = raw[shstrndx][2]
    out: dict[str, tuple[int, bytes]] = {}
    for i, (name_off, typ, body) in enumerate(raw):
        end_ = strtab.find(b"\0", name_off)
        name = strtab[name_off:end_ if end_ >= 0 else None].decode("latin-1") or f"#{i}"
        out.setdefault(name, (typ, body))
    return out


def notes(body: bytes, end: str) -> list[tuple[bytes, int, bytes]]:
    """(name, type, desc) of the notes in one SHT_NOTE section."""
    out, pos = [], 0
    while pos + 12 <= len(body) and len(out) < MAX_NOTES:
        namesz, descsz, typ = struct.unpack_from(end + "III", body, pos)
        pos += 12
        name = body[pos : pos + namesz].rstrip(b"\0")
        pos += (namesz + 3) & ~3
        desc = body[pos : pos + descsz]
        pos += (descsz + 3) & ~3
        out.append((name, typ, desc))
    return out


def ids(data: bytes, secs: dict[str, tuple[int, bytes]]) -> dict[str, str]:
    end = "<" if data[5:6] == b"\x01" else ">"
    found: dict[str, str] = {}
    for typ, body in secs.values():
        if typ != SHT_NOTE:
            continue
        for name, ntype, desc in notes(body, end):
            if name == b"GNU" and ntype == NT_GNU_BUILD_ID:
                found.setdefault("build_id", desc.hex())
            elif name == b"Go" and ntype == NT_GO_BUILD_ID:
                found.setdefault("go_buildid", desc.decode("latin-1"))
    if "go_buildid" not in found:
        m = GO_BUILDID_RE.search(data, 0, 1 << 20)
        if m:
            found["go_buildid"] = m.group(1).decode("latin-1")
    return found


@guarded
def look(path: str, a: bytes, b: bytes, ctx: LookContext) -> Detail | None:
    sa, sb = sections(a), sections(b)
    ia, ib = ids(a, sa), ids(b, sb)
    detail: Detail = {}
    for key in ("build_id", "go_buildid"):
        if key in ia or key in ib:
            detail[key] = pair(ia.get(key), ib.get(key))
    detail["build_id_differs"] = any(ia.get(k) != ib.get(k) for k in ("build_id", "go_buildid"))
    names = list(dict.fromkeys([*sa, *sb]))
    differ = [n for n in names if sa.get(n) != sb.get(n)]
    detail["sections_differ"] = differ[:MAX_LISTED]
    detail["only_build_id_differs"] = bool(differ) and set(differ) <= BUILD_ID_SECTIONS
    return detail


FORMAT = Format(name="elf", look=look, magic=(MAGIC,))
