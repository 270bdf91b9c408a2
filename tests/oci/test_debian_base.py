"""The Debian base image (testdata/make_debian_base.py) that the Debian, Python and C
builds of the tests start from: a real debootstrap rootfs as an OCI layout repro reads,
without the pseudo filesystems' contents, device nodes or apt's package lists, with no
mtime newer than the clamp, and cached (a second call does not run debootstrap)."""

from __future__ import annotations

import json
import os

from repro.oci import iter_entries, open_image
from tests.buildkit_fixtures import load_testdata


def test_debian_base_is_a_real_minbase_rootfs_repro_reads(debian_base):
    make = load_testdata("make_debian_base")
    with open_image(f"oci:{debian_base.path}", verify_all=True) as image:
        assert image.digest.startswith("sha256:")
        (mi,) = [m for m in image.manifests if not m.is_attestation]
        assert str(mi.platform) == f"linux/{make.host_arch()}"
        (layer,) = mi.layers
        with image.open_layer(layer) as stream:
            entries = {e.path: e for e, _ in iter_entries(stream, capture_limit=0)}
    for path in ("etc/debian_version", "usr/bin/apt-get", "usr/bin/dpkg", "usr/bin/bash", "etc/apt/sources.list",
                 "var/lib/dpkg/status", "var/lib/apt/lists/partial"):
        assert path in entries, path
    assert not [p for p in entries if p.startswith(("dev/", "proc/", "sys/"))]
    assert not [p for p in entries if p.startswith("var/lib/apt/lists/") and p != "var/lib/apt/lists/partial"]
    assert {e.type for e in entries.values()} <= {"file", "dir", "symlink", "hardlink"}
    assert max(float(e.mtime) for e in entries.values()) <= make.BASE_CLAMP


def test_debian_base_is_cached_by_suite_mirror_and_arch(debian_base):
    make = load_testdata("make_debian_base")
    with open(os.path.join(debian_base.path, make.STAMP)) as f:
        before = json.load(f)
    assert make.make_debian_base(debian_base.path) == debian_base.digest == before["digest"]
    with open(os.path.join(debian_base.path, make.STAMP)) as f:
        assert json.load(f)["made"] == before["made"]  # reused, not made again
