"""TarCursor's fast path against its full parser and against tarfile.

`TarCursor.next()` reads a plain header whose mode, owner, magic and type fields are byte
for byte those of an earlier one from a template (`_next_full` parsed those fields once);
anything else goes to `_next_full`. These tests build layers from a small palette of such
fields (so the fast path runs), in every encoding the parser accepts (octal with NULs or
spaces, base-256, empty fields, GNU and v7 magic, ustar prefixes, PAX and GNU records),
cut into arbitrary chunks and sometimes corrupted, and require the same fields, data and
errors as a cursor that always takes the full parser.
"""

from __future__ import annotations

import io
import struct
import tarfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from repro.errors import ReproError
from repro.oci.layer_index import TarCursor, iter_entries, normalise_path
from tests import imagegen as g

_RAW = struct.Struct("100s8s8s8s12s12s8sc100s8s32s32s16s155s12x")


def header(name: bytes, mode: bytes, uid: bytes, gid: bytes, size: bytes, mtime: bytes, typeflag: bytes,
           linkname: bytes, magic: bytes, uname: bytes, gname: bytes, dev: bytes, prefix: bytes) -> bytes:
    block = _RAW.pack(name, mode, uid, gid, size, mtime, b" " * 8, typeflag, linkname, magic, uname, gname, dev,
                      prefix)
    return block[:148] + b"%06o\0 " % sum(block) + block[156:]


def padded(data: bytes) -> bytes:
    return data + bytes(-len(data) % 512)


def pax_data(records: list[tuple[bytes, bytes]]) -> bytes:
    out = b""
    for key, value in records:
        body = b" " + key + b"=" + value + b"\n"
        n = len(body) + 1
        while len(str(n)) + len(body) != n:
            n += 1
        out += str(n).encode() + body
    return out


def size_field(n: int, style: int) -> bytes:
    return [b"%011o\0" % n, b"%011o " % n, b"\x80" + n.to_bytes(11, "big"), (b"%o" % n).ljust(12, b"\0"),
            b"-%010o\0" % n][style]


# fields a layer repeats entry after entry, in the encodings writers use (and some they should not)
modes = st.sampled_from([b"0000644\0", b"0000755\0", b"000644 \0", b"   644 \0", bytes(8),
                         b"\x80" + (0o4755).to_bytes(7, "big"), b"0017777\0"])
ids = st.sampled_from([b"0000000\0", b"0001750\0", b"\x80" + (70000).to_bytes(7, "big"), bytes(8), b"     0 \0"])
mtimes = st.sampled_from([b"14524770400\0", b"00000000000\0", b"14524770401 ", b"\x80" + (2**40).to_bytes(11, "big"),
                          b"\xff" * 12, b"-0000000001\0", bytes(12)])
typeflags = st.sampled_from([b"0", b"0", b"\0", b"7", b"5", b"2", b"1", b"6", b"3", b"4"])
magics = st.sampled_from([b"ustar\x0000", b"ustar  \0", bytes(8)])
owners = st.sampled_from([b"root", b"", b"\xc3\xa9t\xc3\xa9", b"x" * 32, b"\xff"])
devs = st.sampled_from([b"0000001\x000000002\0", bytes(16)])
names = st.one_of(
    st.sampled_from([b"usr/bin/x", b"./etc/", b"/abs/path", b"dir/", b"a//b", b"x/.wh.y", b"x/.wh..wh..opq",
                     b"\xff\xfe", b"a" * 100, b"", b".", b"./", b"a/./b"]),
    st.binary(max_size=100),
)
prefixes = st.sampled_from([b"", b"", b"usr/share"])
linknames = st.sampled_from([b"", b"target", b"../a//b/", b"/x/./y"])


@st.composite
def layers(draw) -> tuple[bytes, list[int]]:
    """A raw tar (entries drawn from a palette of repeated fields, with PAX/GNU records
    now and then) and the offsets of its headers."""
    palette = draw(st.lists(st.tuples(modes, ids, ids, mtimes, typeflags, magics, owners, owners, devs),
                            min_size=1, max_size=3))
    out = b""
    offsets = []
    for _ in range(draw(st.integers(0, 20))):
        mode, uid, gid, mtime, typeflag, magic, uname, gname, dev = draw(st.sampled_from(palette))
        if draw(st.integers(0, 4)) == 0:  # another mtime now and then
            mtime = draw(mtimes)
        meta = draw(st.sampled_from([None] * 6 + [b"x", b"g", b"L"]))
        if meta is not None:
            if meta == b"L":
                data = draw(st.binary(min_size=1, max_size=200)) + b"\0"
            else:
                data = pax_data(draw(st.lists(st.sampled_from([
                    (b"path", b"p/q"), (b"mtime", b"1700000000.5"), (b"uid", b"7"), (b"uname", b"bob"),
                    (b"comment", b"x"), (b"SCHILY.xattr.user.a", b"\x00\xff"), (b"uid", b"x")]), min_size=1, max_size=3)))
            offsets.append(len(out))
            out += header(b"././@meta", b"0000644\0", bytes(8), bytes(8), b"%011o\0" % len(data), bytes(12), meta,
                          b"", magic, b"", b"", bytes(16), b"") + padded(data)
        data = draw(st.binary(max_size=1200)) if typeflag in (b"0", b"\0", b"7") else b""
        offsets.append(len(out))
        out += header(draw(names), mode, uid, gid, size_field(len(data), draw(st.sampled_from([0, 0, 1, 2, 3, 4]))), mtime, typeflag,
                      draw(linknames), magic, uname, gname, dev, draw(prefixes)) + padded(data)
    offsets.append(len(out))
    return out + bytes(1024), offsets


class _Dribble(io.RawIOBase):
    """Hands the stream out in the given chunk sizes."""

    def __init__(self, data: bytes, sizes: list[int]):
        self._data, self._sizes, self._pos, self._i = data, sizes, 0, 0

    def read(self, n=-1):
        k = self._sizes[self._i % len(self._sizes)]
        self._i += 1
        out = self._data[self._pos : self._pos + k]
        self._pos += len(out)
        return out


class FullOnly(TarCursor):
    """The reference: every header through the full parser."""

    def next(self):
        return self._next_full()


def walk(cursor_type: type[TarCursor], data: bytes, sizes: list[int], max_entries: int) -> list:
    cursor = cursor_type(_Dribble(data, sizes).read, max_entries)
    out: list = []
    try:
        while (head := cursor.next()) is not None:
            fields, n = head
            out.append((dict(fields), n, b"".join(cursor.data(n))))
    except ReproError as e:
        out.append((type(e).__name__, str(e)))
    return out


chunkings = st.one_of(st.just([1 << 20]), st.lists(st.integers(1, 1500), min_size=1, max_size=4))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layers(), chunkings, st.integers(1, 30),
       st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 511), st.integers(0, 255)), max_size=2))
def test_fast_path_reads_what_the_full_parser_reads(layer, sizes, max_entries, flips):
    tar, offsets = layer
    data = bytearray(tar)
    for which, at, value in flips:  # a header byte corrupted: both take the same way out
        data[offsets[(which + 1) % len(offsets)] + at] = value  # mostly not the first: that one is parsed in full
    assert walk(TarCursor, bytes(data), sizes, max_entries) == walk(FullOnly, bytes(data), [1 << 20], max_entries)


def test_every_corrupted_byte_of_a_repeated_header():
    def entry(name: bytes, data: bytes) -> bytes:
        return header(name, b"0000644\0", b"0001750\0", bytes(8), b"%011o\0" % len(data), b"14524770400\0", b"0", b"",
                      b"ustar\x0000", b"root", b"root", bytes(16), b"") + padded(data)

    tar = entry(b"usr/a", b"x" * 10) + entry(b"usr/b", b"y" * 600) + bytes(1024)
    for at in range(1024, 1536):  # every byte of the second header (its fields are the first's)
        for value in {0, 0x20, 0x30, 0x37, 0x41, 0x80, 0xFF, tar[at] ^ 1}:
            data = tar[:at] + bytes([value]) + tar[at + 1 :]
            assert walk(TarCursor, data, [1 << 20], 10) == walk(FullOnly, data, [1 << 20], 10), (at, value)


def test_the_fast_path_runs_on_repeated_fields():
    tar = g.layer_tar([g.file(f"usr/share/doc/p{i}/copyright", b"x" * i, mode=0o644, uname="root")
                       for i in range(200)], "ustar")
    cursor = TarCursor(_Dribble(tar, [1 << 20]).read)
    full = 0
    original = cursor._next_full

    def counting():
        nonlocal full
        full += 1
        return original()

    cursor._next_full = counting  # type: ignore[method-assign]
    n = 0
    while (head := cursor.next()) is not None:
        cursor.skip(head[1])
        n += 1
    assert n == 200 and full <= 3  # the first header, the end of the archive


palette_specs = st.tuples(st.sampled_from([0o644, 0o755, 0o4755]), st.sampled_from([0, 1000, 70000]),
                          st.sampled_from(["root", "", "é"]), st.sampled_from([1700000000, 0, 2**33 + 5]))


@st.composite
def palette_files(draw) -> list[g.FileSpec]:
    palette = draw(st.lists(palette_specs, min_size=1, max_size=3))
    files = []
    for i in range(draw(st.integers(1, 12))):
        mode, uid, owner, mtime = draw(st.sampled_from(palette))
        kind = draw(st.sampled_from(["file", "file", "dir", "symlink", "hardlink", "whiteout"]))
        path = draw(st.sampled_from(["usr/lib/x", "a" * 120 + "/b", "etc/é", "d/", "./e", "/f/g"])) + str(i)
        attrs = dict(mode=mode, uid=uid, gid=uid, uname=owner, gname=owner, mtime=mtime)
        if kind == "file":
            files.append(g.file(path, draw(st.binary(max_size=600)), **attrs))
        elif kind == "dir":
            files.append(g.dir(path, **attrs))
        elif kind == "whiteout":
            files.append(g.whiteout(path))
        else:
            files.append((g.symlink if kind == "symlink" else g.hardlink)(path, draw(st.sampled_from(["t", "x/./y"])),
                                                                          **attrs))
    return files


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(palette_files(), st.sampled_from(["gnu", "pax", "ustar"]))
def test_repeated_fields_agree_with_tarfile(files, fmt):
    try:
        tar = g.layer_tar(files, fmt)
    except ValueError:  # not representable in this format (tarfile refuses)
        return
    with tarfile.open(fileobj=io.BytesIO(tar), mode="r:", encoding="utf-8", errors="surrogateescape") as t:
        theirs = t.getmembers()
    ours = [e for e, _ in iter_entries(io.BytesIO(tar))]
    assert [normalise_path(m.name) for m in theirs] == [e.path for e in ours]
    assert [(m.mode, m.uid, m.gid, m.uname, m.gname, str(int(m.mtime))) for m in theirs] == [
        (e.mode, e.uid, e.gid, e.uname, e.gname, e.mtime) for e in ours
    ]
    assert [m.linkname for m in theirs if m.issym()] == [e.linkname for e in ours if e.type == "symlink"]
    assert [m.size for m in theirs if m.isreg()] == [e.size for e in ours if e.type in ("file", "whiteout", "opaque")]
