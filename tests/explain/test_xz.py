"""Look-inside for xz and bzip2 files: decompressed payloads, looked at one level deeper."""

from __future__ import annotations

import bz2
import io
import lzma
import tarfile

import pytest

from repro.diff.finding import Finding
from repro.explain import explain
from repro.explain.formats import context, look_inside, xz


def tarball(mtime: int, data: bytes = b"hi\n") -> bytes:
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode="w") as tf:
        ti = tarfile.TarInfo("a.txt")
        ti.size, ti.mtime = len(data), mtime
        tf.addfile(ti, io.BytesIO(data))
    return bio.getvalue()


@pytest.mark.parametrize(("compress", "name", "path"), [(lzma.compress, "xz", "opt/x.tar.xz"),
                                                        (bz2.compress, "bzip2", "opt/x.tbz2")])
def test_archive_inside_a_compressed_stream_is_nested_archive_mtime(compress, name, path):
    a, b = compress(tarball(1700000000)), compress(tarball(1700000007))
    d = look_inside(path, a, b, context())
    assert d["format"] == "xz" and d["compression"] == name and not d["payload_equal"]
    assert d["payload"]["format"] == "tar" and d["payload"]["metadata_only"]
    (out,) = explain([Finding(kind="file", field="content", path=path)], contents=lambda f: (a, b))
    assert out.cause == "nested-archive-mtime"


def test_a_text_payload_diff_is_lifted():
    a = lzma.compress(b"built 2023-11-14T22:13:20Z\n")
    b = lzma.compress(b"built 2023-11-14T22:13:27Z\n")
    d = look_inside("usr/share/doc/x/NEWS.xz", a, b, context())
    assert "-built 2023-11-14T22:13:20Z" in d["diff"]
    assert d["payload"]["timestamps"]


def test_decompression_is_bounded():
    bomb = lzma.compress(b"\0" * (xz.MAX_OUTPUT + 10))
    out, cut = xz.decompress(bomb)
    assert len(out) == xz.MAX_OUTPUT and cut
    assert xz.decompress(b"\xfd7zXZ\x00garbage") == (b"", True)
