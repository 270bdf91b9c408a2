"""Garbage into every format module: a look that fails adds nothing, and never raises."""

from __future__ import annotations

import json
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from repro.explain.heuristics import Clock
from repro.explain.formats import FORMATS, context, look_inside

MAGICS = [b"", b"\x1f\x8b\x08\x00", b"\x1f\x8b\x08\x1f", b"PK\x03\x04", b"PK\x05\x06",
          b"\x7fELF\x01\x01", b"\x7fELF\x02\x02", b"\x7fELF\x02\x01\x01" + bytes(9),
          struct.pack("<H", 3495) + b"\r\n", struct.pack("<H", 3379) + b"\r\n",
          b"!<arch>\n", b"!<arch>\ndebian-binary   1700000000  0     0     100644  4         `\n"]


def with_tar_magic(data: bytes) -> bytes:
    data = data.ljust(263, b"\0")
    return data[:257] + b"ustar\0" + data[263:]


garbage = st.one_of(
    st.binary(max_size=1024),
    st.builds(lambda m, r: m + r, st.sampled_from(MAGICS), st.binary(max_size=1024)),
    st.builds(with_tar_magic, st.binary(max_size=1024)),
)


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
@settings(max_examples=120, deadline=None)
@given(a=garbage, b=garbage)
def test_format_looks_never_raise_on_garbage(fmt, a, b):
    got = fmt.look("x.bin", a, b, context())
    assert got is None or isinstance(json.loads(json.dumps(got)), dict)


@settings(max_examples=200, deadline=None)
@given(a=garbage, b=garbage,
       path=st.sampled_from(["x.gz", "x.tar", "x.jar", "x.pyc", "x", "x.tgz", "x.deb", "x.a"]))
def test_look_inside_never_raises_on_garbage(a, b, path):
    json.dumps(look_inside(path, a, b, context(Clock(anchors=(1_700_000_000.0,), epochs=(1_600_000_000,)))))


def test_crafted_elf_with_huge_counts_is_bounded():
    head = b"\x7fELF\x02\x01\x01" + bytes(9) + bytes(0x28 - 16)
    head += struct.pack("<Q", 64) + bytes(0x3A - 0x30) + struct.pack("<HHH", 64, 65535, 1)
    data = head.ljust(4096, b"\xff")
    (elf,) = [f for f in FORMATS if f.name == "elf"]
    got = elf.look("x", data, data[:-1] + b"\0", context())
    assert got is None or got["sections_differ"] == []
