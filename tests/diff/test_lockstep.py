"""Lockstep comparison of two layers: the same findings as hashing every file on its
own, whatever the order, the chunk boundaries or the file sizes; errors blamed on the
side that has them."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from repro.diff.entries import compare_entries, keyed, order_difference
from repro.diff.finding import Finding
from repro.diff.lockstep import index_pair
from repro.errors import FormatError, IntegrityError, LimitError
from repro.oci.layer_index import iter_entries
from repro.oci.verify import VerifyingReader
from tests import imagegen as g


class _Chunked(io.RawIOBase):
    """A stream that hands out its bytes in the given sizes, whatever is asked for."""

    def __init__(self, data: bytes, sizes: list[int]):
        self._data, self._sizes, self._pos, self._i = data, sizes or [1 << 20], 0, 0

    def read(self, n=-1):
        k = self._sizes[self._i % len(self._sizes)]
        self._i += 1
        out = self._data[self._pos : self._pos + k]
        self._pos += len(out)
        return out


def opener(data: bytes, sizes: list[int] | None = None):
    return lambda: contextlib.nullcontext(_Chunked(data, sizes or []))


def make(path, field, a, b, entry_a=None, entry_b=None, **detail):
    return Finding("file", field, path=path, a=a, b=b, detail=detail)


def by_hashing(tar_a: bytes, tar_b: bytes) -> tuple[list, list]:
    return ([e for e, _ in iter_entries(io.BytesIO(tar_a))], [e for e, _ in iter_entries(io.BytesIO(tar_b))])


def findings(entries_a, entries_b) -> tuple[list[Finding], object]:
    ka, kb = keyed(entries_a), keyed(entries_b)
    return compare_entries(ka, kb, make), order_difference(list(ka), list(kb))


def check_agrees(tar_a: bytes, tar_b: bytes, sizes_a=None, sizes_b=None, capture_limit=100):
    pair = index_pair(opener(tar_a, sizes_a), opener(tar_b, sizes_b), capture_limit=capture_limit,
                      max_entries=1000)
    ha, hb = by_hashing(tar_a, tar_b)
    assert findings(pair.entries_a, pair.entries_b) == findings(ha, hb)
    for mine, theirs in ((pair.entries_a, ha), (pair.entries_b, hb)):
        assert len(mine) == len(theirs)
        for e, h in zip(mine, theirs):
            # digest None only where lockstep proved the file equal to its counterpart
            assert e == (h if e.digest is not None else dataclasses.replace(h, digest=None))
    # bytes kept exactly for the differing small files
    bytes_a = {k: c for k, c in _contents(tar_a).items()}
    bytes_b = {k: c for k, c in _contents(tar_b).items()}
    content_keys = {(f.path, f.detail.get("occurrence", 0)) for f in findings(ha, hb)[0] if f.field == "content"}
    assert set(pair.contents) == content_keys
    assert set(pair.positions) == set(pair.contents)
    for key, (ia, ib) in pair.positions.items():
        assert pair.entries_a[ia].path == pair.entries_b[ib].path == key[0]
        assert [e.path for e in pair.entries_a[:ia]].count(key[0]) == key[1]
        assert [e.path for e in pair.entries_b[:ib]].count(key[0]) == key[1]
    for key, (xa, xb) in pair.contents.items():
        assert xa == (bytes_a[key] if len(bytes_a[key]) <= capture_limit else None)
        assert xb == (bytes_b[key] if len(bytes_b[key]) <= capture_limit else None)
    return pair


def _contents(tar: bytes) -> dict:
    out, seen = {}, {}
    for e, data in iter_entries(io.BytesIO(tar), capture_limit=1 << 30):
        n = seen.get(e.path, 0)
        seen[e.path] = n + 1
        out[(e.path, n)] = data
    return out


def test_equal_files_in_step_are_not_hashed_and_differences_are_kept():
    same = [g.dir("etc"), g.file("etc/a", b"A" * 3000), g.symlink("etc/l", "a")]
    a = g.layer_tar(same + [g.file("etc/stamp", b"built 1")])
    b = g.layer_tar(same + [g.file("etc/stamp", b"built 2")])
    pair = check_agrees(a, b)
    digests = {e.path: e.digest for e in pair.entries_a}
    assert digests["etc/a"] is None and digests["etc/stamp"] == g.sha256(b"built 1")
    assert pair.contents == {("etc/stamp", 0): (b"built 1", b"built 2")}


def test_added_removed_and_reordered_entries_pair_by_path():
    files = [g.file(f"d/f{i:02d}", bytes([i]) * (100 + i)) for i in range(30)]
    b_files = files[:5] + [g.file("d/f04b", b"new")] + files[5:12] + files[13:]  # one added, one gone
    b_files[20], b_files[7] = b_files[7], b_files[20]  # two swapped
    b_files[9] = dataclasses.replace(b_files[9], content=b"changed")
    pair = check_agrees(g.layer_tar(files), g.layer_tar(b_files))
    assert len(pair.contents) == 1


def test_duplicate_paths_pair_by_occurrence():
    a = g.layer_tar([g.file("x", b"1"), g.file("y", b"y"), g.file("x", b"2")])
    b = g.layer_tar([g.file("x", b"1"), g.file("x", b"3"), g.file("y", b"y")])
    pair = check_agrees(a, b)
    assert set(pair.contents) == {("x", 1)}


@pytest.mark.parametrize("where", [0, 1, 1_500_000, 2_999_999, None])
def test_files_larger_than_a_chunk_differ_anywhere(where):
    rng = random.Random(where)
    big = rng.randbytes(3_000_000)
    other = big if where is None else big[:where] + bytes([big[where] ^ 1]) + big[where + 1 :]
    a = g.layer_tar([g.file("small", b"s"), g.file("big", big), g.file("z", b"z")])
    b = g.layer_tar([g.file("small", b"s"), g.file("big", other), g.file("z", b"z")])
    for sizes in ([1 << 20], [700_001, 1 << 20], [4096, 65536, 333]):
        pair = check_agrees(a, b, sizes, [1 << 20])
        big_a = next(e for e in pair.entries_a if e.path == "big")
        assert big_a.digest == g.sha256(big)  # large files are hashed once, over both sides' shared prefix


def test_type_changes_and_size_changes():
    a = g.layer_tar([g.file("p", b"abc"), g.symlink("q", "p"), g.file("r", b"12345")])
    b = g.layer_tar([g.dir("p"), g.file("q", b"now a file"), g.file("r", b"123")])
    check_agrees(a, b)


file_names = st.sampled_from(["a", "b", "c", "d/e", "d/f", "d-g", "h/i/j"])
contents = st.sampled_from([b"", b"x", b"w", b"y" * 700, b"y" * 699 + b"Y", b"y" * 701, b"z" * 5000, b"z" * 4999 + b"Z"])


@st.composite
def layer(draw):
    n = draw(st.integers(0, 8))
    files = []
    for _ in range(n):
        kind = draw(st.sampled_from(["file", "file", "file", "dir", "symlink"]))
        path = draw(file_names)
        if kind == "file":
            files.append(g.file(path, draw(contents), mode=draw(st.sampled_from([0o644, 0o755]))))
        elif kind == "dir":
            files.append(g.dir(path))
        else:
            files.append(g.symlink(path, draw(file_names)))
    return files


# whole layers in one chunk (files compared where they lie) or cut anywhere
chunkings = st.one_of(st.just([1 << 20]), st.lists(st.integers(1, 3000), min_size=1, max_size=4))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layer(), st.data(), chunkings, chunkings, st.integers(0, 6000))
def test_lockstep_finds_what_hashing_finds(files_a, data, sizes_a, sizes_b, capture_limit):
    # B: A mutated (contents, order, additions, removals): every finding the same
    files_b = list(files_a)
    for _ in range(data.draw(st.integers(0, 4))):
        op = data.draw(st.sampled_from(["flip", "flip", "content", "swap", "add", "drop"]))
        if op == "flip" and files_b:  # one byte changed: same size, different content
            i = data.draw(st.integers(0, len(files_b) - 1))
            old = files_b[i].content
            if files_b[i].type == "file" and old:
                at = data.draw(st.integers(0, len(old) - 1))
                files_b[i] = dataclasses.replace(files_b[i], content=old[:at] + bytes([old[at] ^ 1]) + old[at + 1 :])
        elif op == "content" and files_b:
            i = data.draw(st.integers(0, len(files_b) - 1))
            if files_b[i].type == "file":
                files_b[i] = dataclasses.replace(files_b[i], content=data.draw(contents))
        elif op == "swap" and len(files_b) > 1:
            i, j = data.draw(st.integers(0, len(files_b) - 1)), data.draw(st.integers(0, len(files_b) - 1))
            files_b[i], files_b[j] = files_b[j], files_b[i]
        elif op == "add":
            files_b.insert(data.draw(st.integers(0, len(files_b))), g.file(data.draw(file_names), data.draw(contents)))
        elif op == "drop" and files_b:
            files_b.pop(data.draw(st.integers(0, len(files_b) - 1)))
    check_agrees(g.layer_tar(files_a), g.layer_tar(files_b), sizes_a, sizes_b, capture_limit)


def _verifying(data: bytes, digest: str, label: str):
    """An opener like Image.open_layer: the stream is verified, errors inside are labelled."""
    @contextlib.contextmanager
    def open_():
        try:
            yield VerifyingReader(io.BytesIO(data), digest, len(data), label)
        except (FormatError, IntegrityError, LimitError) as e:
            raise type(e)(f"{label}: {e}") from e
    return open_


def test_a_truncated_side_is_named():
    good = g.layer_tar([g.file(f"f{i}", b"x" * 1000) for i in range(20)])
    cut = good[:5000]
    with pytest.raises(FormatError, match=r"^image B: layer tar truncated"):
        index_pair(_verifying(good, g.sha256(good), "image A"), _verifying(cut, g.sha256(cut), "image B"),
                   capture_limit=100, max_entries=100)


def test_a_tampered_side_is_blamed_on_its_blob():
    good = g.layer_tar([g.file(f"f{i}", b"x" * 1000) for i in range(20)])
    bad = bytearray(good)
    bad[3000:3010] = b"garbage!!!"  # inside a header: the tar is corrupt, and so is the blob
    with pytest.raises(IntegrityError, match=r"^image A: .*digest mismatch"):
        index_pair(_verifying(bytes(bad), g.sha256(good), "image A"), _verifying(good, g.sha256(good), "image B"),
                   capture_limit=100, max_entries=100)


def test_too_many_entries_is_a_limit_error_naming_the_side():
    small = g.layer_tar([g.file("a", b"1")])
    many = g.layer_tar([g.file(f"f{i}", b"1") for i in range(50)])
    with pytest.raises(LimitError, match=r"^image B: layer has more than 10 entries"):
        index_pair(_verifying(small, g.sha256(small), "image A"), _verifying(many, g.sha256(many), "image B"),
                   capture_limit=100, max_entries=10)


# -- headers that are the same bytes on both sides (TarCursor.next_same) ------------------

@st.composite
def headed_layer(draw):
    """Files whose headers repeat, some with PAX records (xattrs, sub-second mtimes, long names)."""
    files = []
    for i in range(draw(st.integers(1, 10))):
        path = draw(st.sampled_from(["a", "d/e", "x" * 120 + "/long", "é"])) + str(i)
        extra = draw(st.sampled_from([{}, {}, {"xattrs": {"user.a": b"1"}}, {"mtime": "1700000000.5"},
                                      {"mode": 0o755}, {"pax": {"comment": "c"}}]))
        if draw(st.integers(0, 4)) == 0:
            files.append(g.symlink(path, "t", **extra))
        else:
            files.append(g.file(path, draw(contents), **extra))
    return files


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(headed_layer(), st.data(), chunkings, chunkings)
def test_same_header_bytes_read_once_give_the_same_entries(files_a, data, sizes_a, sizes_b):
    # B: A with header changes (mode, mtime, records), content changes and shifted positions
    files_b = list(files_a)
    for _ in range(data.draw(st.integers(0, 3))):
        i = data.draw(st.integers(0, len(files_b) - 1))
        op = data.draw(st.sampled_from(["mode", "mtime", "xattr", "content", "insert", "drop"]))
        if op == "mode":
            files_b[i] = dataclasses.replace(files_b[i], mode=0o600)
        elif op == "mtime":
            files_b[i] = dataclasses.replace(files_b[i], mtime="1700000001.25")
        elif op == "xattr":
            files_b[i] = dataclasses.replace(files_b[i], xattrs={"user.a": b"2"})
        elif op == "content" and files_b[i].type == "file":
            files_b[i] = dataclasses.replace(files_b[i], content=data.draw(contents))
        elif op == "insert":
            files_b.insert(i, g.file("inserted", b"new"))
        elif op == "drop" and len(files_b) > 1:
            files_b.pop(i)
    check_agrees(g.layer_tar(files_a), g.layer_tar(files_b), sizes_a, sizes_b, capture_limit=1000)


def test_equal_entries_with_equal_headers_are_one_record():
    files = [g.dir("etc"), g.file("etc/a", b"A" * 3000, xattrs={"user.x": b"1"}), g.symlink("etc/l", "a"),
             g.file("etc/b", b"B" * 10)]
    pair = check_agrees(g.layer_tar(files), g.layer_tar(files))
    assert all(ea is eb for ea, eb in zip(pair.entries_a, pair.entries_b))
    # a shift in position: equal content, but each side its own record with its own position
    pair = check_agrees(g.layer_tar(files), g.layer_tar([g.file("first", b"")] + files))
    assert [e.position for e in pair.entries_b] == list(range(5))
    assert not any(ea is eb for ea, eb in zip(pair.entries_a, pair.entries_b[1:]))
