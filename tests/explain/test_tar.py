"""Look-inside for tar archives that are files in the image."""

from __future__ import annotations

import io
import tarfile

from repro.diff.finding import Finding
from repro.explain import explain
from repro.explain.formats import context, look_inside

Spec = tuple[str, bytes, int, int, str]  # name, content, mtime, uid, uname


def make_tar(entries: list[Spec], fmt: int = tarfile.GNU_FORMAT) -> bytes:
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode="w", format=fmt) as tf:
        for name, data, mtime, uid, uname in entries:
            ti = tarfile.TarInfo(name)
            ti.size, ti.mtime, ti.uid, ti.uname, ti.mode = len(data), mtime, uid, uname, 0o644
            tf.addfile(ti, io.BytesIO(data))
    return bio.getvalue()


BASE: list[Spec] = [("app/a.txt", b"alpha", 100, 0, "root"), ("app/b.txt", b"beta", 100, 0, "root")]


def look(a: bytes, b: bytes, path: str = "opt/app.tar") -> dict:
    return look_inside(path, a, b, context())


def explain_tar(a: bytes, b: bytes) -> Finding:
    f = Finding(kind="file", field="content", path="opt/app.tar")
    (out,) = explain([f], contents=lambda _: (a, b))
    return out


def test_inner_mtimes_only_is_nested_archive_mtime():
    later = [(n, d, 200, u, un) for n, d, _, u, un in BASE]
    d = look(make_tar(BASE), make_tar(later))
    assert d["format"] == "tar" and d["metadata_only"]
    assert d["fields_differ"] == ["mtime"]
    assert d["entries_differ"][0] == {"name": "app/a.txt", "fields": ["mtime"],
                                      "mtime": {"a": 100, "b": 200}}
    out = explain_tar(make_tar(BASE), make_tar(later))
    assert out.cause == "nested-archive-mtime" and "--sort=name" in out.hint


def test_owners_and_order_are_metadata():
    other = [("app/b.txt", b"beta", 100, 0, "root"), ("app/a.txt", b"alpha", 100, 1000, "me")]
    d = look(make_tar(BASE), make_tar(other))
    assert d["order_differs"] and d["metadata_only"]
    assert d["fields_differ"] == ["uid", "uname"]
    assert explain_tar(make_tar(BASE), make_tar(other)).cause == "nested-archive-mtime"


def test_order_alone_is_metadata():
    d = look(make_tar(BASE), make_tar(BASE[::-1]))
    assert d["order_differs"] and d["metadata_only"] and d["entries_differ"] == []


def test_content_difference_is_not_metadata_only():
    other = [("app/a.txt", b"ALPHA", 100, 0, "root"), BASE[1]]
    d = look(make_tar(BASE), make_tar(other))
    assert d["fields_differ"] == ["content"] and not d["metadata_only"]
    assert explain_tar(make_tar(BASE), make_tar(other)).cause != "nested-archive-mtime"


def test_entries_on_one_side_only_are_named():
    d = look(make_tar(BASE), make_tar(BASE + [("app/c.txt", b"", 100, 0, "root")]))
    assert d["only_b"] == ["app/c.txt"] and d["only_a"] == [] and not d["metadata_only"]


def test_pax_records_and_formats_are_compared():
    d = look(make_tar(BASE, tarfile.GNU_FORMAT), make_tar(BASE, tarfile.PAX_FORMAT))
    # same entries, same metadata: the header format alone is not an entry difference
    assert d["entries_differ"] == [] and not d["order_differs"]


def test_tar_is_recognised_by_magic_without_a_name():
    later = [(n, d, 200, u, un) for n, d, _, u, un in BASE]
    assert look(make_tar(BASE), make_tar(later), path="opt/blob")["format"] == "tar"


def test_a_dot_tar_that_is_text_gets_a_text_diff():
    d = look(b"hello\n", b"world\n", path="x.tar")
    assert d["format"] == "text"
