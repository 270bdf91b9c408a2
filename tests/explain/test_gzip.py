"""gzip look-inside on files made by the gzip CLI and by Python's gzip."""

from __future__ import annotations

import gzip
import io
import os
import subprocess
import tarfile
import time
from pathlib import Path

from repro.diff.finding import Finding
from repro.explain import explain
from repro.explain.formats import context, gz, look_inside

PAYLOAD = b"Lorem ipsum dolor sit amet\n" * 200


def gzip_cli(path: Path, *flags: str) -> bytes:
    return subprocess.run(["gzip", "-c", *flags, str(path)], check=True,
                          capture_output=True).stdout


def explain_gz(a: bytes, b: bytes, path: str = "usr/share/doc/x/changelog.gz") -> Finding:
    f = Finding(kind="file", field="content", path=path)
    (out,) = explain([f], contents=lambda _: (a, b))
    return out


def test_gzip_cli_stores_mtime_so_touched_files_differ_in_the_header(tmp_path):
    src = tmp_path / "changelog"
    src.write_bytes(PAYLOAD)
    os.utime(src, (1_600_000_000, 1_600_000_000))
    a = gzip_cli(src)
    os.utime(src, (1_700_000_000, 1_700_000_000))
    b = gzip_cli(src)
    d = look_inside("changelog.gz", a, b, context())
    assert d["format"] == "gzip"
    assert d["header_diff"] == {"mtime": {"a": 1_600_000_000, "b": 1_700_000_000}}
    assert d["payload_equal"] and not d["payload_truncated"]
    out = explain_gz(a, b)
    assert out.cause == "gzip-header" and "gzip -n" in out.hint


def test_gzip_n_output_is_identical_and_without_name_or_mtime(tmp_path):
    src = tmp_path / "changelog"
    src.write_bytes(PAYLOAD)
    a = gzip_cli(src, "-n")
    os.utime(src, (1_700_000_000, 1_700_000_000))
    assert gzip_cli(src, "-n") == a
    h = gz.parse_header(a)
    assert h["mtime"] == 0 and "fname" not in h


def test_gzip_with_and_without_n_differ_in_name_and_mtime(tmp_path):
    src = tmp_path / "changelog"
    src.write_bytes(PAYLOAD)
    d = look_inside("changelog.gz", gzip_cli(src), gzip_cli(src, "-n"), context())
    assert d["header_diff"]["fname"] == {"a": "changelog", "b": None}
    assert "mtime" in d["header_diff"] and d["payload_equal"]


def test_python_gzip_with_different_mtime_is_gzip_header():
    a, b = gzip.compress(PAYLOAD, mtime=1), gzip.compress(PAYLOAD, mtime=2)
    assert explain_gz(a, b).cause == "gzip-header"


def test_equal_header_and_payload_but_other_level_is_not_gzip_header():
    a = gzip.compress(PAYLOAD, compresslevel=1, mtime=0)
    b = gzip.compress(PAYLOAD, compresslevel=9, mtime=0)
    out = explain_gz(a, b)
    assert out.detail["payload_equal"] and out.cause == "unknown"


def test_differing_payload_is_looked_at_as_text():
    now = time.time()
    a = gzip.compress(f"built {time.ctime(now)}\n".encode(), mtime=0)
    b = gzip.compress(f"built {time.ctime(now + 90)}\n".encode(), mtime=0)
    out = explain_gz(a, b)
    assert not out.detail["payload_equal"]
    assert out.detail["payload"]["format"] == "text"
    assert "built" in out.detail["diff"] and "diff" not in out.detail["payload"]
    assert out.cause == "embedded-timestamp"


def test_tar_gz_with_inner_mtimes_is_nested_archive_mtime():
    def tgz(mtime: int) -> bytes:
        bio = io.BytesIO()
        with tarfile.open(fileobj=bio, mode="w") as tf:
            ti = tarfile.TarInfo("etc/app.conf")
            ti.size, ti.mtime = 3, mtime
            tf.addfile(ti, io.BytesIO(b"x=1"))
        return gzip.compress(bio.getvalue(), mtime=mtime)

    out = explain_gz(tgz(1), tgz(2), path="opt/app/bundle.tar.gz")
    assert out.detail["payload"]["format"] == "tar"
    assert out.cause == "nested-archive-mtime"


def test_inflating_stops_at_the_cap():
    bomb = gzip.compress(bytes(gz.MAX_INFLATE + 4096), mtime=0)
    other = gzip.compress(bytes(gz.MAX_INFLATE + 8192), mtime=0)
    d = look_inside("bomb.gz", bomb, other, context())
    assert d["payload_truncated"] and not d["payload_equal"]
    assert d["payload_size"] == {"a": gz.MAX_INFLATE, "b": gz.MAX_INFLATE}
    assert "payload" not in d


def test_multi_member_and_truncated_streams():
    two = gzip.compress(b"ab", mtime=0) + gzip.compress(b"cd", mtime=0)
    assert gz.inflate(two) == (b"abcd", False)
    assert gz.inflate(two[:15])[1] is True
