"""ELF look-inside on binaries linked by cc with different build IDs."""

from __future__ import annotations

import subprocess

import pytest

from repro.diff.finding import Finding
from repro.explain import explain
from repro.explain.formats import context, elf, look_inside


@pytest.fixture(scope="module")
def binaries(tmp_path_factory) -> dict[str, bytes]:
    d = tmp_path_factory.mktemp("elf")
    (d / "hello.c").write_text('int main(void) { return 42; }\n')
    out = {}
    for tag in ("0x0102030405", "0xa0b0c0d0e0", "none"):
        exe = d / f"hello-{tag}"
        subprocess.run(["cc", "-O1", f"-Wl,--build-id={tag}", "-o", str(exe), str(d / "hello.c")],
                       check=True)
        out[tag] = exe.read_bytes()
    return out


def test_build_ids_are_read_from_the_gnu_note(binaries):
    secs = elf.sections(binaries["0x0102030405"])
    assert ".note.gnu.build-id" in secs
    assert elf.ids(binaries["0x0102030405"], secs) == {"build_id": "0102030405"}


def test_binaries_differing_only_in_build_id(binaries):
    a, b = binaries["0x0102030405"], binaries["0xa0b0c0d0e0"]
    d = look_inside("usr/bin/hello", a, b, context())
    assert d["format"] == "elf"
    assert d["build_id"] == {"a": "0102030405", "b": "a0b0c0d0e0"}
    assert d["build_id_differs"] and d["only_build_id_differs"]
    assert d["sections_differ"] == [".note.gnu.build-id"]
    f = Finding(kind="file", field="content", path="usr/bin/hello")
    out = explain([f], contents=lambda _: (a, b))[0]
    assert out.cause == "build-id" and "-trimpath" in out.hint


def test_build_id_present_on_one_side_only(binaries):
    d = look_inside("hello", binaries["0x0102030405"], binaries["none"], context())
    assert d["build_id"] == {"a": "0102030405", "b": None} and d["build_id_differs"]


def test_go_build_id_notes_are_read():
    desc = b"abc/def"
    note = (3).to_bytes(4, "little") + len(desc).to_bytes(4, "little") + (4).to_bytes(4, "little")
    note += b"Go\0\0" + desc + b"\0"
    assert elf.notes(note, "<") == [(b"Go", 4, desc)]
    raw = b'\x7fELF' + bytes(60) + b'\xff Go build ID: "aaa/bbb"\n \xff'
    assert elf.ids(raw, {}) == {"go_buildid": "aaa/bbb"}
