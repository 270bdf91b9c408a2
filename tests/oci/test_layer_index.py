"""The layer index: tar stream -> Entries, exactly as recorded, never a raw exception."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import tarfile

from tests import imagegen as g
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from repro.errors import FormatError, LimitError, ReproError
from repro.oci.layer_index import iter_entries, normalise_path
from repro.oci.model import Entry


def entries(data: bytes, **kw) -> list:
    return list(iter_entries(io.BytesIO(data), **kw))


def test_every_entry_kind_round_trips():
    files = [
        g.dir("./"),
        g.dir("etc/", mode=0o1777, uid=1, gid=2, uname="u", gname="g"),
        g.file("/etc/passwd", b"root\n", mode=0o4755, mtime="1700000000.500"),
        g.file("./bin/sg", b"x", mode=0o2711, mtime="1700000000.000"),
        g.symlink("lib", "usr/lib"),
        g.hardlink("bin/sg2", "./bin/sg"),
        g.char("dev/null", 1, 3, mode=0o666),
        g.block("dev/sda", 8, 0),
        g.fifo("run/fifo"),
        g.whiteout("etc/gone"),
        g.opaque("var"),
        g.file("big", bytes(range(256)) * 10),
    ]
    got = entries(g.layer_tar(files), capture_limit=100)
    assert [e.path for e, _ in got] == [
        ".", "etc", "etc/passwd", "bin/sg", "lib", "bin/sg2", "dev/null", "dev/sda", "run/fifo",
        "etc/.wh.gone", "var/.wh..wh..opq", "big",
    ]  # fmt: skip
    assert [e.type for e, _ in got] == [f.type for f in files]
    assert [e.position for e, _ in got] == list(range(len(files)))
    by = {e.path: (e, c) for e, c in got}
    assert by["etc"][0].mode == 0o1777 and by["etc"][0].uname == "u" and by["etc"][0].gid == 2
    passwd, content = by["etc/passwd"]
    assert (passwd.mode, passwd.mtime, passwd.size, content) == (0o4755, "1700000000.5", 5, b"root\n")
    assert passwd.digest == g.sha256(b"root\n")
    assert by["bin/sg"][0].mtime == "1700000000" and by["bin/sg"][0].mode == 0o2711
    assert by["lib"][0].linkname == "usr/lib" and by["lib"][0].digest is None
    assert by["bin/sg2"][0].linkname == "bin/sg"  # hardlink targets are archive paths: normalised
    assert (by["dev/null"][0].devmajor, by["dev/null"][0].devminor) == (1, 3)
    assert (by["dev/sda"][0].devmajor, by["dev/sda"][0].devminor) == (8, 0)
    assert by["etc/.wh.gone"][0].digest is None
    big, big_content = by["big"]
    assert big_content is None and big.size == 2560 and big.digest == g.sha256(bytes(range(256)) * 10)


def test_xattrs_and_remaining_pax_records():
    caps = b"\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
    f = g.file("ping", b"", xattrs={"security.capability": caps, "user.bin": b"\xff\x00\n="},
               pax={"atime": "1700000001.25", "ctime": "1700000002", "LIBARCHIVE.creationtime": "5"})  # fmt: skip
    [(e, _)] = entries(g.layer_tar([f]))
    assert dict(e.xattrs) == {"security.capability": caps, "user.bin": b"\xff\x00\n="}
    assert dict(e.pax) == {"atime": "1700000001.25", "ctime": "1700000002", "LIBARCHIVE.creationtime": "5"}


def test_libarchive_xattrs_are_base64_and_url_encoded_names():
    value = base64.b64encode(b"\x00\x01binary").rstrip(b"=").decode()
    f = g.file("x", pax={"LIBARCHIVE.xattr.user.a%3Db": value})
    [(e, _)] = entries(g.layer_tar([f]))
    assert dict(e.xattrs) == {"user.a=b": b"\x00\x01binary"}
    assert dict(e.pax) == {}


def test_non_utf8_names_survive_with_surrogateescape():
    name = b"caf\xe9/\xff\xfe.txt".decode("utf-8", "surrogateescape")
    got = entries(g.layer_tar([g.file(name, b"1"), g.symlink("l", name)]))
    assert got[0][0].path == name
    assert got[0][0].path.encode("utf-8", "surrogateescape") == b"caf\xe9/\xff\xfe.txt"
    assert got[1][0].linkname == name


@pytest.mark.parametrize("fmt", ["gnu", "ustar", "pax"])
def test_long_names_in_every_tar_format(fmt):
    long_dir = "/".join(["d" * 60] * 3)  # 182 chars: ustar prefix, GNU 'L', PAX path
    files = [g.file(long_dir + "/file", b"abc"), g.symlink("s", long_dir if fmt != "ustar" else "short")]
    got = entries(g.layer_tar(files, fmt))
    assert got[0][0].path == long_dir + "/file"
    assert got[1][0].linkname == (long_dir if fmt != "ustar" else "short")


def test_gnu_base256_numbers():
    f = g.file("x", b"1", uid=2**40, gid=3, mtime=2**36)
    [(e, _)] = entries(g.layer_tar([f], "gnu"))
    assert (e.uid, e.gid, e.mtime) == (2**40, 3, str(2**36))


def test_global_pax_header_applies_to_following_entries():
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT, pax_headers={"comment": "made by git"}) as t:
        for name in ("a", "b"):
            t.addfile(tarfile.TarInfo(name), io.BytesIO())
    got = entries(buf.getvalue())
    assert [dict(e.pax) for e, _ in got] == [{"comment": "made by git"}] * 2


def test_capture_limit_and_empty_files():
    tar = g.layer_tar([g.file("empty"), g.file("small", b"12345"), g.file("six", b"123456")])
    got = entries(tar, capture_limit=5)
    assert [c for _, c in got] == [b"", b"12345", None]
    assert got[0][0].digest == g.sha256(b"")
    assert [c for _, c in entries(tar)] == [b"", None, None]


def test_stream_is_drained_after_the_last_entry():
    tar = g.layer_tar([g.file("a", b"1")]) + b"\0" * 5000 + b"trailing"

    class Counting(io.BytesIO):
        pass

    stream = Counting(tar)
    assert len(list(iter_entries(stream))) == 1
    assert stream.tell() == len(tar)


@pytest.mark.parametrize("cut", [1, 100, 511, 512, 700, 1024, 1536])
def test_truncated_tar_is_a_format_error(cut):
    tar = g.layer_tar([g.file("a", b"x" * 600), g.file("b", b"y")])
    with pytest.raises(FormatError, match="layer tar truncated"):
        entries(tar[:cut])


def test_missing_end_marker_and_empty_stream_are_truncation():
    tar = g.layer_tar([g.file("a", b"x")])
    with pytest.raises(FormatError, match="no end-of-archive marker after entry 1"):
        entries(tar[:1024])
    with pytest.raises(FormatError, match="empty stream"):
        entries(b"")


def test_lone_zero_block_at_end_is_tolerated():
    tar = g.layer_tar([g.file("a", b"x")])
    assert len(entries(tar[:1536])) == 1


def test_corrupt_header_is_a_format_error_not_the_end():
    tar = bytearray(g.layer_tar([g.file("a", b"x"), g.file("b", b"y")]))
    tar[1024 + 10] ^= 0x40  # second header's name: checksum no longer matches
    with pytest.raises(FormatError, match="bad header checksum"):
        entries(bytes(tar))


def test_unsupported_entry_type_is_a_format_error():
    info = tarfile.TarInfo("sparse")
    info.type = b"S"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as t:
        t.addfile(info)
    with pytest.raises(FormatError, match="unsupported tar entry type"):
        entries(buf.getvalue())


def test_more_entries_than_the_limit_is_a_limit_error():
    tar = g.layer_tar([g.file(f"f{i}") for i in range(5)])
    assert len(entries(tar, max_entries=5)) == 5
    with pytest.raises(LimitError, match="more than 4 entries.*--max-entries-per-layer"):
        entries(tar, max_entries=4)


def test_normalise_path():
    assert normalise_path("./a//b/./c/") == "a/b/c"
    assert normalise_path("/") == normalise_path("./") == normalise_path("") == "."


def test_read_errors_become_format_errors():
    class Broken(io.RawIOBase):
        def read(self, n=-1):
            raise OSError(5, "Input/output error")

    with pytest.raises(FormatError, match="Input/output error"):
        list(iter_entries(Broken()))


# -- properties ------------------------------------------------------------------------

component = st.text(
    alphabet=st.sampled_from(list("abcXYZ019 _-=.\n\t") + ["é", "☃", "\udcff", "\udc80"]), min_size=1, max_size=12
).filter(lambda s: s not in (".", ".."))
paths = st.lists(component, min_size=1, max_size=3).map("/".join)
mtimes = st.one_of(
    st.integers(0, 2**33 - 1),
    st.tuples(st.integers(0, 2**33 - 1), st.text("0123456789", min_size=1, max_size=9)).map(lambda t: f"{t[0]}.{t[1]}"),
)
names = st.text(alphabet=st.sampled_from(list("abcdefgh_-é")), max_size=40)
xattr_names = st.sampled_from(["security.capability", "user.a", "trusted.overlay.opaque", "security.selinux"])


@st.composite
def file_specs(draw) -> g.FileSpec:
    kind = draw(st.sampled_from(["file", "file", "dir", "symlink", "hardlink", "char", "block", "fifo"]))
    path = draw(paths)
    special = draw(st.sampled_from([None, None, "whiteout", "opaque"])) if kind == "file" else None
    if special == "whiteout":
        path = g.whiteout(path).path
    elif special == "opaque":
        path = g.opaque(path).path
    kind = special or kind
    spec = g.FileSpec(
        path=path,
        type=kind,
        content=draw(st.binary(max_size=700)) if kind == "file" else b"",  # whiteouts are empty
        mode=draw(st.integers(0, 0o7777)),
        uid=draw(st.integers(0, 2**32)),
        gid=draw(st.integers(0, 2**21)),
        uname=draw(names),
        gname=draw(names),
        mtime=draw(mtimes),
        linkname=draw(paths) if kind in ("symlink", "hardlink") else "",
        devmajor=draw(st.integers(0, 4095)) if kind in ("char", "block") else 0,
        devminor=draw(st.integers(0, 2**20)) if kind in ("char", "block") else 0,
        xattrs=draw(st.dictionaries(xattr_names, st.binary(max_size=40), max_size=2)),
        pax=draw(st.dictionaries(st.sampled_from(["atime", "ctime", "comment"]), st.sampled_from(["1.5", "170000000", "x y"]), max_size=2)),
    )
    return spec


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(file_specs(), min_size=1, max_size=6), st.integers(0, 800))
def test_random_layers_round_trip(files, capture_limit):
    tar = g.layer_tar(files)
    got = entries(tar, capture_limit=capture_limit)
    assert len(got) == len(files)
    for i, ((e, content), f) in enumerate(zip(got, files)):
        assert e.position == i
        assert e.path == normalise_path(f.path)
        assert e.type == f.type
        assert e.mode == f.effective_mode
        assert (e.uid, e.gid, e.uname, e.gname) == (f.uid, f.gid, f.uname, f.gname)
        assert e.mtime == g.expected_mtime(f.mtime)
        assert e.linkname == {"hardlink": normalise_path(f.linkname), "symlink": f.linkname}.get(f.type, "")
        assert (e.devmajor, e.devminor) == (f.devmajor, f.devminor)
        assert dict(e.xattrs) == f.xattrs
        assert dict(e.pax) == f.pax
        if f.type == "file":
            assert e.size == len(f.content)
            assert e.digest == "sha256:" + hashlib.sha256(f.content).hexdigest()
            assert content == (f.content if len(f.content) <= capture_limit else None)
        else:
            assert e.digest is None and content is None


@settings(max_examples=60, deadline=None)
@given(st.lists(file_specs(), min_size=1, max_size=4), st.sampled_from(["gnu", "pax"]))
def test_agrees_with_tarfile(files, fmt):
    tar = g.layer_tar(files, fmt)
    with tarfile.open(fileobj=io.BytesIO(tar), mode="r:", encoding="utf-8", errors="surrogateescape") as t:
        theirs = t.getmembers()
    ours = [e for e, _ in entries(tar)]
    assert [normalise_path(m.name) for m in theirs] == [e.path for e in ours]
    assert [(m.mode, m.uid, m.gid, m.uname, m.gname) for m in theirs] == [
        (e.mode, e.uid, e.gid, e.uname, e.gname) for e in ours
    ]
    assert [m.size for m in theirs if m.isreg()] == [e.size for e in ours if e.type in ("file", "whiteout", "opaque")]


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=3000))
def test_random_bytes_never_raise_anything_but_repro_errors(data):
    try:
        entries(data, capture_limit=100)
    except ReproError:
        pass


@settings(max_examples=150, deadline=None)
@given(st.lists(file_specs(), min_size=1, max_size=3), st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=4), st.integers(0, 10**6))
def test_mutated_tars_never_raise_anything_but_repro_errors(files, flips, cut):
    tar = bytearray(g.layer_tar(files))
    assume(len(tar) > 0)
    for pos, value in flips:
        tar[pos % len(tar)] = value
    try:
        entries(bytes(tar[: max(cut % (len(tar) + 1), 1)]), capture_limit=100)
    except ReproError:
        pass


class _Dribble(io.RawIOBase):
    """Hands the stream out in the given chunk sizes, whatever the reader asks for."""

    def __init__(self, data: bytes, sizes: list[int]):
        self._data, self._sizes, self._pos, self._i = data, sizes or [1], 0, 0

    def read(self, n=-1):
        k = self._sizes[self._i % len(self._sizes)]
        self._i += 1
        out = self._data[self._pos : self._pos + k]
        self._pos += len(out)
        return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(file_specs(), min_size=1, max_size=5), st.lists(st.integers(1, 1300), min_size=1, max_size=6),
       st.integers(0, 800))
def test_chunk_boundaries_do_not_matter(files, sizes, capture_limit):
    # headers, PAX records, file data and padding split anywhere between chunks
    tar = g.layer_tar(files)
    whole = entries(tar, capture_limit=capture_limit)
    assert list(iter_entries(_Dribble(tar, sizes), capture_limit=capture_limit)) == whole


def test_files_larger_than_a_chunk_are_streamed_to_the_sink():
    big = bytes(range(256)) * 9000  # 2.2 MiB: more than one 1 MiB chunk
    got: list[bytes] = []
    sizes: list[int] = []

    def sink(path, size):
        sizes.append(size)
        return lambda piece: got.append(bytes(piece))

    [(e, content)] = entries(g.layer_tar([g.file("big", big)]), content_sink=sink)
    assert b"".join(got) == big and sizes == [len(big)] and len(got) > 1
    assert e.digest == g.sha256(big) and content is None


def test_make_entry_is_the_dataclass_constructor():
    tar = g.layer_tar([g.file("etc/x", b"abc", uname="u"), g.symlink("l", "etc/x")])
    for e, _ in entries(tar):
        rebuilt = Entry(**{f.name: getattr(e, f.name) for f in dataclasses.fields(Entry)})
        assert e == rebuilt and repr(e) == repr(rebuilt)
        assert type(e) is Entry and set(Entry.__slots__) == {f.name for f in dataclasses.fields(Entry)}
        with pytest.raises(dataclasses.FrozenInstanceError):
            e.path = "other"  # type: ignore[misc]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(file_specs(), min_size=1, max_size=5))
def test_without_digests_the_same_entries_unhashed(files):
    tar = g.layer_tar(files)
    hashed = [e for e, _ in entries(tar)]
    bare = entries(tar, digests=False)
    assert [e for e, _ in bare] == [dataclasses.replace(e, digest=None) for e in hashed]
    assert all(content is None for _, content in bare)
    # a capture limit or a sink still gets the bytes, so the files are hashed then
    assert [e for e, _ in entries(tar, digests=False, capture_limit=10)] == hashed
