"""The ELF machine of an image's executables against the platform its manifest names."""

from __future__ import annotations

import struct

from hypothesis import given
from hypothesis import strategies as st

from repro.oci import open_image
from repro.oci.executables import elf_arch, platform_mismatches
from tests import imagegen as g


def elf(machine: int, *, is64: bool = True, little: bool = True) -> bytes:
    ident = b"\x7fELF" + bytes([2 if is64 else 1, 1 if little else 2, 1]) + b"\0" * 9
    return ident + struct.pack("<HH" if little else ">HH", 2, machine) + b"\0" * 100


def test_elf_arch_reads_the_machine_class_and_byte_order():
    with open("/bin/ls", "rb") as f:  # this machine's own programs
        assert elf_arch(f.read(20)) == "amd64"
    assert elf_arch(elf(183)) == "arm64"
    assert elf_arch(elf(3, is64=False)) == "386"
    assert elf_arch(elf(21)) == "ppc64le" and elf_arch(elf(21, little=False)) == "ppc64"
    assert elf_arch(elf(8, is64=False, little=True)) == "mipsle"
    assert elf_arch(elf(8, little=False)) == "mips64"
    assert elf_arch(b"#!/bin/sh\necho hi\n" + b"\0" * 10) is None
    assert elf_arch(elf(9999)) is None and elf_arch(b"\x7fELF") is None


@given(st.binary(max_size=64))
def test_elf_arch_never_raises(data):
    assert elf_arch(data) in (None, "386", "amd64", "arm", "arm64", "riscv64", "s390x", "loong64", "ppc64le", "ppc64",
                              "mips", "mipsle", "mips64", "mips64le")


def image(tmp_path, platform: str, *files: g.FileSpec):
    spec = g.ImageSpec(layers=[g.LayerSpec([g.dir("bin"), *files])], platform=platform)
    g.write_image(spec, tmp_path / "img.tar")
    return open_image(str(tmp_path / "img.tar"))


def test_an_arm64_image_of_x86_64_programs_is_named(tmp_path):
    x86 = elf(62)
    with image(tmp_path, "linux/arm64", g.file("bin/busybox", x86, mode=0o755), g.file("bin/sh", x86, mode=0o755),
               g.file("bin/data", elf(183), mode=0o644)) as img:
        (m,) = platform_mismatches(img)
    assert (m.platform, m.found, m.checked, m.matching, m.example) == ("linux/arm64", "amd64", 2, 0, "bin/busybox")
    assert m.message().startswith("linux/arm64: 2 of 2 executables checked are built for x86-64, not arm64 "
                                  "(e.g. /bin/busybox)")
    assert m.to_json()["kind"] == "platform-mismatch"


def test_matching_programs_scripts_and_data_raise_nothing(tmp_path):
    with image(tmp_path, "linux/amd64", g.file("bin/busybox", elf(62), mode=0o755),
               g.file("bin/run.sh", b"#!/bin/sh\n" + b"x" * 100, mode=0o755)) as img:
        assert platform_mismatches(img) == []
    with image(tmp_path, "linux/arm64", g.file("bin/tool", elf(183), mode=0o755),
               g.file("bin/qemu-x86_64", elf(62), mode=0o755), g.file("bin/other", elf(183), mode=0o755)) as img:
        assert platform_mismatches(img) == []  # a minority of foreign programs is not a wrong base
