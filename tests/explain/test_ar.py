"""ar archives (repro/explain/formats/ar.py): Debian packages made by dpkg-deb at two
times, and a static library made by ar in its non-deterministic mode."""

from __future__ import annotations

import os
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from repro.diff.finding import Finding
from repro.explain import ExplainContext, explain
from repro.explain.formats import ar, context, look_inside


def build_debs(tmp_path, times=(1700000000, 1700000007), text=(b"hi\n", b"hi\n")) -> list[bytes]:
    out = []
    for i, t in enumerate(times):
        root = tmp_path / f"pkg{i}"
        (root / "DEBIAN").mkdir(parents=True)
        (root / "usr" / "share" / "app").mkdir(parents=True)
        (root / "DEBIAN" / "control").write_text("Package: app\nVersion: 1.0\nArchitecture: all\n"
                                                 "Maintainer: x <x@example.org>\nDescription: x\n")
        (root / "usr" / "share" / "app" / "hi").write_bytes(text[i])
        for d, dirs, files in os.walk(root):
            for n in dirs + files:
                os.utime(os.path.join(d, n), (t, t))
        deb = tmp_path / f"app-{i}.deb"
        # dpkg-deb stamps the members and clamps the files to SOURCE_DATE_EPOCH: as if built at t
        subprocess.run(["dpkg-deb", "--root-owner-group", "-b", str(root), str(deb)], check=True,
                       capture_output=True, env={**os.environ, "SOURCE_DATE_EPOCH": str(t)})
        out.append(deb.read_bytes())
    return out


def one(path, instruction, a, b):
    f = Finding(kind="file", field="content", path=path, instruction=instruction, layer=1)
    (out,) = explain([f], contents=lambda _: (a, b), context=ExplainContext())
    return out


def test_a_deb_built_twice_differs_only_in_times(tmp_path):
    a, b = build_debs(tmp_path)
    assert [m[0] for m in ar.members(a)] == ["debian-binary", "control.tar.xz", "data.tar.xz"]
    d = look_inside("srv/app_1.0_all.deb", a, b, context())
    assert d["format"] == "ar" and d["metadata_only"]
    assert d["payload"]["format"] == "xz" and d["payload"]["payload"]["format"] == "tar"
    out = one("srv/app_1.0_all.deb", "RUN dpkg-deb --root-owner-group -b /pkg /srv/app_1.0_all.deb", a, b)
    assert out.cause == "nested-archive-mtime"
    assert out.hint.startswith("`dpkg-deb --root-owner-group -b /pkg /srv/app_1.0_all.deb`: declare `ARG SOURCE_DATE_EPOCH`")


def test_a_deb_whose_files_changed_is_not_metadata_only(tmp_path):
    a, b = build_debs(tmp_path, text=(b"hi\n", b"ho\n"))
    d = look_inside("srv/app.deb", a, b, context())
    assert d["format"] == "ar" and not d["metadata_only"]
    assert one("srv/app.deb", "RUN dpkg-deb -b /pkg /srv/app.deb", a, b).cause != "nested-archive-mtime"


def build_libraries(tmp_path) -> list[bytes]:
    """libx.a twice, by `ar rcU` (real member times) a few seconds apart."""
    src = tmp_path / "x.c"
    src.write_text("int x(void) { return 1; }\n")
    obj = tmp_path / "x.o"
    subprocess.run(["gcc", "-c", "-o", str(obj), str(src)], check=True)
    out = []
    for i, t in enumerate((1700000000, 1700000007)):
        os.utime(obj, (t, t))
        lib = tmp_path / f"libx{i}.a"
        subprocess.run(["ar", "rcU", str(lib), str(obj)], check=True, capture_output=True)  # U: real times
        out.append(lib.read_bytes())
    return out


@pytest.fixture
def libraries(tmp_path) -> list[bytes]:
    return build_libraries(tmp_path)


def test_a_static_library_made_without_deterministic_mode(libraries):
    a, b = libraries
    d = look_inside("usr/local/lib/libx.a", a, b, context())
    assert d["format"] == "ar" and d["metadata_only"] and d["fields_differ"] == ["mtime"]
    out = one("usr/local/lib/libx.a", "RUN ar rcs /usr/local/lib/libx.a /src/x.o", a, b)
    assert out.cause == "nested-archive-mtime" and "`ar rcsD`" in out.hint
    assert out.hint.startswith("`ar rcs /usr/local/lib/libx.a /src/x.o`: ")


def test_garbage_after_the_ar_magic_is_no_look():
    assert look_inside("x.a", ar.MAGIC + b"garbage", ar.MAGIC + b"rubbish!", context()).get("format") != "ar"


def write_ar(members: list[tuple[str, int, bytes]]) -> bytes:
    """An ar archive as GNU ar writes short names (`name/`), each member padded to even."""
    out = bytearray(ar.MAGIC)
    for name, mtime, data in members:
        out += (f"{name}/".ljust(16) + f"{mtime}".ljust(12) + "0".ljust(6) + "0".ljust(6) + "100644".ljust(8)
                + f"{len(data)}".ljust(10) + "`\n").encode()
        out += data + (b"\n" if len(data) % 2 else b"")
    return bytes(out)


names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789._-", min_size=1, max_size=15)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(names, st.integers(0, 99_999_999_999), st.binary(max_size=64)), min_size=1, max_size=6,
                unique_by=lambda m: m[0]))
def test_members_read_back_what_was_written(members):
    got = ar.members(write_ar(members))
    assert [(n, f["mtime"], body) for n, f, body in got] == members
