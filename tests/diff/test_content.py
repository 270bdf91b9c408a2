"""The content step: each layer blob is read at most once per comparison, and what the
explainer and --report-dir get comes from that one read (repro/diff/content.py)."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

from repro.diff import ContentKey, DiffOptions, diff_images, fetch_contents
from repro.oci import Limits
from repro.oci.layout import LayoutBlobs
from repro.oci.walker import open_from_index_json
from repro.pipeline import CompareOptions, compare
from tests import imagegen as g
from tests.imagegen import ImageSpec, LayerSpec, write_image

BIG = 5 << 20  # over the explainer's 4 MiB capture limit


class CountingBlobs(LayoutBlobs):
    """An OCI layout source that counts how often each blob is opened."""

    def __init__(self, root: str) -> None:
        super().__init__(root)
        self.opened: Counter[str] = Counter()

    def open(self, digest: str):  # type: ignore[no-untyped-def]
        self.opened[digest] += 1
        return super().open(digest)


def open_counting(path: Path):  # type: ignore[no-untyped-def]
    blobs = CountingBlobs(str(path))
    image = open_from_index_json(str(path), "oci", blobs, (path / "index.json").read_bytes(), "", Limits(), False,
                                 str(path))
    return image, blobs


def layer_reads(image, blobs: CountingBlobs) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """How often each layer blob of `image` was opened (documents are read at open time)."""
    return {layer.descriptor.digest: blobs.opened[layer.descriptor.digest]
            for m in image.manifests for layer in m.layers}


def pair(tmp_path: Path, spec_a: ImageSpec, spec_b: ImageSpec):  # type: ignore[no-untyped-def]
    write_image(spec_a, tmp_path / "a", format="oci")
    write_image(spec_b, tmp_path / "b", format="oci")
    a, blobs_a = open_counting(tmp_path / "a")
    b, blobs_b = open_counting(tmp_path / "b")
    blobs_a.opened.clear()  # opening read the index, manifests and configs
    blobs_b.opened.clear()
    return a, b, blobs_a, blobs_b


def shared_and_differing(big_tail: bytes, stamp: bytes, mode: int, dup: bytes) -> ImageSpec:
    return ImageSpec([
        LayerSpec([g.dir("etc"), g.file("etc/os-release", b"same on both sides\n")]),  # equal: never decompressed
        LayerSpec([g.dir("srv"), g.file("srv/stamp", stamp), g.file("srv/run", b"#!/bin/sh\n", mode=mode),
                   g.file("srv/big", bytes(BIG) + big_tail), g.file("srv/dup", b"1"), g.file("srv/dup", dup)]),
    ])


def test_every_layer_is_read_at_most_once_by_diff_explain_and_report_dir(tmp_path):
    a, b, blobs_a, blobs_b = pair(
        tmp_path, shared_and_differing(b"a", b"Tue Nov 14 22:13:20 UTC 2023\n", 0o755, b"2\n"),
        shared_and_differing(b"b", b"Wed Nov 15 08:00:00 UTC 2023\n", 0o700, b"3\n"))
    with a, b:
        compared = compare(a, b, CompareOptions(report_dir=str(tmp_path / "rd")))
    with compared:  # both images closed: nothing below can read them
        compared.extract(str(tmp_path / "rd"))
    for image, blobs in ((a, blobs_a), (b, blobs_b)):
        reads = layer_reads(image, blobs)
        assert set(reads.values()) == {1}, reads  # the equal layer hashed once, the differing one read once
    by_path = {(f.path, f.field): f for f in compared.findings if f.kind == "file"}
    assert set(by_path) == {("srv/stamp", "content"), ("srv/run", "mode"), ("srv/big", "content"),
                            ("srv/dup", "content")}
    assert by_path[("srv/stamp", "content")].cause == "embedded-timestamp"  # the explainer got both sides' bytes
    rd = tmp_path / "rd"
    assert (rd / "a" / "srv" / "big").read_bytes() == bytes(BIG) + b"a"  # spooled during the diff, any size
    assert (rd / "b" / "srv" / "big").read_bytes() == bytes(BIG) + b"b"
    assert (rd / "a" / "srv" / "run").read_bytes() == (rd / "b" / "srv" / "run").read_bytes() == b"#!/bin/sh\n"
    assert (rd / "a" / "srv" / "dup").read_bytes() == b"2\n" and (rd / "b" / "srv" / "dup").read_bytes() == b"3\n"
    assert not (rd / "a" / "etc").exists()


def test_a_merged_comparison_reads_each_layer_once_and_explains_from_that_read(tmp_path):
    two = ImageSpec([LayerSpec([g.dir("etc"), g.file("etc/stamp", b"Mon Jan  1 00:00:00 UTC 2024\n"),
                                g.file("etc/conf", b"a=1\n")]),
                     LayerSpec([g.file("etc/conf", b"a=2\n")])])
    three = ImageSpec([LayerSpec([g.dir("etc"), g.file("etc/conf", b"a=1\n")]),
                       LayerSpec([g.file("etc/stamp", b"Tue Jan  2 00:00:00 UTC 2024\n")]),
                       LayerSpec([g.file("etc/conf", b"a=3\n"), g.whiteout("etc/gone")])])
    a, b, blobs_a, blobs_b = pair(tmp_path, two, three)
    with a, b:
        compared = compare(a, b, CompareOptions(report_dir=str(tmp_path / "rd")))
    with compared:
        compared.extract(str(tmp_path / "rd"))
    for image, blobs in ((a, blobs_a), (b, blobs_b)):
        assert set(layer_reads(image, blobs).values()) == {1}
    stamp = next(f for f in compared.findings if f.path == "etc/stamp" and f.field == "content")
    assert stamp.layer is None and stamp.cause == "embedded-timestamp"
    conf = next(f for f in compared.findings if f.path == "etc/conf" and f.field == "content")
    assert "-a=2" in conf.detail["diff"] and "+a=3" in conf.detail["diff"]  # each side's last write
    assert (tmp_path / "rd" / "a" / "etc" / "conf").read_bytes() == b"a=2\n"
    assert (tmp_path / "rd" / "b" / "etc" / "conf").read_bytes() == b"a=3\n"


def budget_pair(tmp_path: Path):  # type: ignore[no-untyped-def]
    return pair(tmp_path, ImageSpec([LayerSpec([g.file(f"f{i}", b"A%d\n" % i) for i in range(20)])]),
                ImageSpec([LayerSpec([g.file(f"f{i}", b"B%d\n" % i) for i in range(20)])]))


def test_for_the_report_dir_content_past_the_memory_budget_goes_to_a_temporary_file(tmp_path):
    a, b, blobs_a, blobs_b = budget_pair(tmp_path)
    with a, b:
        r = diff_images(a, b, DiffOptions(capture_budget=16, keep_files=True))  # room for about 4 files
    with fetch_contents(r) as contents:
        got = {f.path: contents.pair(f) for f in r.findings if f.field == "content"}
        spooled = [held.spooled for _, _, held in contents.files()]
        assert got == {f"f{i}": (b"A%d\n" % i, b"B%d\n" % i) for i in range(20)}
        assert sum(s is not None for s in spooled) >= 30 and all(os.path.isfile(s) for s in spooled if s)
    assert not any(s and os.path.exists(s) for s in spooled)  # closing removes them
    for image, blobs in ((a, blobs_a), (b, blobs_b)):
        assert set(layer_reads(image, blobs).values()) == {1}


def test_past_the_memory_budget_the_explainer_goes_without_rather_than_read_a_layer_again(tmp_path):
    a, b, blobs_a, blobs_b = budget_pair(tmp_path)
    with a, b:
        r = diff_images(a, b, DiffOptions(capture_budget=16))
    with fetch_contents(r) as contents:
        got = [contents.pair(f) for f in r.findings if f.field == "content"]
    assert len(got) == 20 and 0 < sum(x == (None, None) for x in got) < 20
    for image, blobs in ((a, blobs_a), (b, blobs_b)):
        assert set(layer_reads(image, blobs).values()) == {1}


def test_only_what_the_findings_name_is_handed_over(tmp_path):
    a, b, _, _ = pair(tmp_path, ImageSpec([LayerSpec([g.file("x", b"1"), g.file("y", b"same"), g.file("z", b"z")])]),
                      ImageSpec([LayerSpec([g.file("x", b"2"), g.file("y", b"same"), g.file("z", b"z", mode=0o600)])]))
    with a, b:
        r = diff_images(a, b, DiffOptions(keep_files=True))
    with fetch_contents(r) as contents:
        held = {(side, key.path) for side, key, _ in contents.files()}
        assert held == {(0, "x"), (1, "x"), (0, "z"), (1, "z")}  # z: its mode differs, --report-dir shows it
        assert contents.get(0, ContentKey("linux/amd64", 0, "y")) is None
