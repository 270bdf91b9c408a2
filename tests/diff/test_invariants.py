"""Invariants of the verdict that hold for any two inputs (issue #16), property-tested:

1. exit 0 only if every blob that either image references verifies;
2. exit 0 only if the two image digests are equal, or every difference above the
   manifests is reported (or explicitly ignored by name);
3. `--semantic` never skips comparing layers that are not attestation layers.

Images come from tests/imagegen.py and testdata/make_corpus.py's editing helpers
(consistent re-hashing up to index.json), mutated by hypothesis.
"""

from __future__ import annotations

import gzip
import json
import os
import tempfile
import zlib
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from repro.diff import DiffOptions, Policy, diff_images
from repro.errors import ReproError
from repro.oci import open_image
from tests import imagegen as g
from tests.corpus import mc
SETTINGS = settings(max_examples=int(os.environ.get("REPRO_INVARIANT_EXAMPLES", "40")), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def verdict(a: str, b: str, semantic: bool = False) -> tuple[int, Any]:
    """(exit code, DiffResult or the error) of `repro diff A B`, in-process."""
    try:
        with open_image(a) as ia, open_image(b) as ib:
            result = diff_images(ia, ib, DiffOptions(policy=Policy.make(semantic, [])))
            return (0 if result.reproducible else 1), result
    except ReproError as e:
        return 2, e


# -- 1. every referenced blob verifies -----------------------------------------------------

def _docker_shared() -> g.ImageSpec:
    same = [g.file("data", b"y" * 3000)]
    return g.ImageSpec([g.LayerSpec(same, compression="none"), g.LayerSpec(same, compression="none"),
                        g.LayerSpec([g.file("z", b"z")])])


SHAPES = {
    "oci": lambda: (g.build_oci(mc.good_spec()).files, "oci-archive"),
    "oci-attested": lambda: (g.build_oci(mc.good_spec(attestation=True)).files, "oci-archive"),
    "oci-two-platforms": lambda: (mc.two_platforms().files, "oci-archive"),
    "layout": lambda: (g.build_oci(mc.good_spec()).files, "oci"),
    "docker-legacy-shared": lambda: (g.build_docker([(_docker_shared(), ["t:1"])], layout="legacy",
                                                    symlinks=False)[0].files, "docker-archive"),
    "docker-blobs": lambda: (g.build_docker([(mc.good_spec(), ["t:1"])], layout="blobs")[0].files, "docker-archive"),
}


def _write(files: dict[str, bytes], fmt: str, path: str) -> str:
    g.write_files(files, path, fmt)
    return {"oci": "oci:", "docker-archive": "docker-archive:"}.get(fmt, "") + path


@SETTINGS
@given(shape=st.sampled_from(sorted(SHAPES)), side=st.sampled_from(["a", "b", "both"]), data=st.data())
def test_exit_0_only_if_every_referenced_blob_verifies(shape, side, data):
    files, fmt = SHAPES[shape]()
    blobs = sorted(n for n, v in files.items() if v and n not in ("index.json", "oci-layout", "manifest.json")
                   and not n.endswith(("/VERSION", "/json")))
    victim = data.draw(st.sampled_from(blobs), label="blob")
    at = data.draw(st.integers(0, len(files[victim]) - 1), label="byte")
    bad = dict(files)
    bad[victim] = mc.flip(files[victim], at)
    if fmt == "docker-archive" and files[victim][:2] == b"\x1f\x8b":
        # a docker-archive's compressed layer is referenced by its diffID only: a flip
        # that leaves the uncompressed tar as it was (a gzip header flag) breaks nothing
        try:
            unchanged = gzip.decompress(bad[victim]) == gzip.decompress(files[victim])
        except (OSError, EOFError, zlib.error):
            unchanged = False
        assume(not unchanged)
    with tempfile.TemporaryDirectory() as d:
        a = _write(bad if side in ("a", "both") else files, fmt, os.path.join(d, "a"))
        b = _write(bad if side in ("b", "both") else files, fmt, os.path.join(d, "b"))
        code, out = verdict(a, b)
    assert code != 0, f"{shape}: {victim} corrupted on side {side}, yet exit 0"


# -- 2. every difference above the manifests is reported -----------------------------------

ENTRY_EDITS = [("platform.os.version", "10.0.1"), ("platform.os.features", ["x"]), ("platform.variant", "v8"),
               ("urls", ["https://example.com/x"]), ("artifactType", "application/x"), ("data", "e30="),
               ("annotations.org.example", "1"),
               ("annotations.org.opencontainers.image.created", "2024-01-01T00:00:00Z"),
               ("mediaType", g.DOCKER_MANIFEST), ("extra", {"k": 1})]

index_mutations = st.lists(st.one_of(
    st.tuples(st.just("entry"), st.integers(0, 1), st.sampled_from(ENTRY_EDITS)),
    st.tuples(st.just("top"), st.sampled_from(["annotations", "subject", "artifactType", "extra"])),
    st.tuples(st.just("reverse")),
    st.tuples(st.just("duplicate"), st.integers(0, 1)),
    st.tuples(st.just("signature")),
    st.tuples(st.just("drop-other")),
), min_size=1, max_size=3)


def _apply(files: dict[str, bytes], doc: Any, ops: list[Any]) -> None:
    for op in ops:
        entries = doc["manifests"]
        if op[0] == "entry":
            _, i, (key, value) = op
            e = entries[min(i, len(entries) - 1)]
            head, _, rest = key.partition(".")
            if head in ("platform", "annotations"):
                e.setdefault(head, {})[rest] = value
            else:
                e[key] = value
        elif op[0] == "top":
            doc[op[1]] = {"annotations": {"org.example": "x"}, "artifactType": "application/x",
                          "subject": {"mediaType": g.OCI_MANIFEST, "digest": "sha256:" + "5" * 64, "size": 1},
                          "extra": [1]}[op[1]] if op[1] != "annotations" else {"org.example": "x"}
        elif op[0] == "reverse":
            entries.reverse()
        elif op[0] == "duplicate":
            entries.append(dict(entries[min(op[1], len(entries) - 1)]))
        elif op[0] == "signature":
            mc._add_signature(files, doc)
        elif op[0] == "drop-other":
            doc["manifests"] = [e for e in entries if e.get("mediaType") != mc.SIG_TYPE] or entries


@SETTINGS
@given(nested=st.booleans(), ops=index_mutations, semantic=st.booleans())
def test_exit_0_only_if_digests_equal_or_every_index_difference_is_reported(nested, ops, semantic):
    built = mc.two_platforms(nested)
    files = dict(built.files)
    if nested:
        top = json.loads(files["index.json"])["manifests"][0]["digest"]
        mc.edit_json(files, top, lambda doc: _apply(files, doc, ops))
    else:
        mc.edit_index_json(files, lambda doc: _apply(files, doc, ops))
    with tempfile.TemporaryDirectory() as d:
        a, b = _write(built.files, "oci-archive", d + "/a.tar"), _write(files, "oci-archive", d + "/b.tar")
        code, result = verdict(a, b, semantic)
        if code == 2:
            # a mutation the spec forbids: a media type that disagrees with the document, or a
            # platform edit on an entry that had none (a platform without os/architecture)
            assert ("mediaType" in str(result) or "media type" in str(result)
                    or "platform.os is not a string" in str(result)), result
            return
        with open_image(a) as ia, open_image(b) as ib:
            same_digest = ia.digest == ib.digest
    if code == 0 and not same_digest:
        assert result.ignored, "different digests, nothing reported, nothing ignored"
        assert all(why.startswith("semantic:") for _, why in result.ignored)
    if code == 1:
        # only the index was touched: no finding may be blamed on anything below it
        assert {f.kind for f in result.findings} == {"index"}, [(f.kind, f.field) for f in result.findings]


# -- 3. --semantic never skips a layer that is not an attestation's -----------------------

@SETTINGS
@given(subject=st.booleans(), pose=st.booleans(), artifact=st.booleans(), in_index=st.booleans())
def test_semantic_never_skips_image_layers(subject, pose, artifact, in_index):
    def spec(content: bytes) -> g.ImageSpec:
        s = g.vary(mc.good_spec(), 0, "etc/hostname", content=content)

        def hook(doc: dict) -> None:
            if subject:
                doc["subject"] = {"mediaType": g.OCI_MANIFEST, "digest": "sha256:" + "7" * 64, "size": 7}
            if artifact:
                doc["artifactType"] = "application/vnd.example"
        s.manifest_hook = hook
        return s

    with tempfile.TemporaryDirectory() as d:
        refs = []
        for name, content in (("a", b"one\n"), ("b", b"two\n")):
            files = dict(g.build_oci(g.IndexSpec([spec(content)]) if in_index or pose else spec(content)).files)
            if pose:
                top = json.loads(files["index.json"])["manifests"][0]["digest"]
                mc.edit_json(files, top, lambda doc: doc["manifests"][0].setdefault("annotations", {}).update(
                    {"vnd.docker.reference.type": "attestation-manifest",
                     "vnd.docker.reference.digest": "sha256:" + "7" * 64}))
            refs.append(_write(files, "oci-archive", f"{d}/{name}.tar"))
        code, result = verdict(*refs, semantic=True)
    assert code == 1, result
    assert [(f.kind, f.field, f.path) for f in result.findings] == [("file", "content", "etc/hostname")]
    for p in result.platforms:
        for m in (p.a, p.b):
            if m is not None and m.layers:
                assert p.role == "image" and not m.is_attestation
