"""Real builds of testdata/contexts with real buildkitd + runc daemons."""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import time

import pytest

from tests.buildkit_fixtures import EPOCH, context, expected, manifest_digests, sha256_file
from repro.buildkit import BuildSpec, EphemeralDaemon, build, build_many
from repro.errors import BuildError

pytestmark = pytest.mark.buildkit

NOT_REPRODUCIBLE = ["clock-in-file", "random-bytes", "nested-tar", "old-mtime", "gzip-no-n"]


def spec_for(name_or_path: str, base, **kw) -> BuildSpec:
    ctx = name_or_path if os.path.isabs(name_or_path) else context(name_or_path)
    return BuildSpec(context=ctx, source_date_epoch=EPOCH, build_contexts=(base.build_context,), **kw)


def prepared_context(name: str, tmp_path) -> str:
    """A copy of testdata/contexts/NAME with the mtimes expected.json asks for (git keeps none)."""
    dst = tmp_path / name
    shutil.copytree(context(name), dst)
    for rel in expected(name)["mtime_older_than_epoch"]:
        os.utime(dst / rel, (EPOCH - 1000, EPOCH - 1000))
    return str(dst)


def test_deterministic_context_is_byte_identical_on_two_fresh_daemons(isolated, buildkit_tools, base_image, tmp_path):
    results = build_many(spec_for("deterministic", base_image), 2, str(tmp_path / "out"), progress="quiet",
                         tools=buildkit_tools)
    a, b = (r.path for r in results)
    assert manifest_digests(a) == manifest_digests(b) == [results[0].image_digest]
    assert sha256_file(a) == sha256_file(b)
    assert results[0].addr != results[1].addr  # two daemons, not one solver


def test_deterministic_context_survives_vary(isolated, buildkit_tools, base_image, tmp_path):
    results = build_many(spec_for("deterministic", base_image), 2, str(tmp_path / "out"), vary=True,
                         progress="quiet", tools=buildkit_tools)
    assert not results[0].varied and results[1].varied
    assert results[1].context != results[0].context
    assert results[0].image_digest == results[1].image_digest


@pytest.mark.parametrize("name", NOT_REPRODUCIBLE)
def test_nondeterministic_context_differs_where_expected_json_says(isolated, buildkit_tools, base_image, tmp_path,
                                                                   name):
    want = expected(name)
    assert want["reproducible"] is False
    results = build_many(spec_for(prepared_context(name, tmp_path), base_image), 2, str(tmp_path / "out"),
                         vary=want["vary"], progress="quiet", tools=buildkit_tools)
    a, b = (r.path for r in results)
    assert manifest_digests(a) != manifest_digests(b)

    from repro.pipeline import compare, open_images  # the diff pipeline, as `repro check` runs it

    with open_images(a, b) as (image_a, image_b):
        doc = compare(image_a, image_b, source_date_epoch=EPOCH).report
    files = {(f["path"], f["field"]): f.get("cause") for f in doc["findings"] if f["kind"] == "file"}
    for diff in want["differences"]:
        assert (diff["path"], diff["field"]) in files, doc["findings"]
        assert files[(diff["path"], diff["field"])] == diff["cause"]
    assert set(files) == {(d["path"], d["field"]) for d in want["differences"]}


def test_build_result_records_how_it_was_built(isolated, buildkit_tools, base_image, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1")  # must not reach the build
    out = tmp_path / "one.tar"
    before = time.time()
    r = build(spec_for("deterministic", base_image), str(out), progress="quiet", tools=buildkit_tools)
    assert r.path == str(out) and out.is_file()
    assert r.buildkit_version == "v0.32.2" and r.source_date_epoch == EPOCH
    assert r.exporter == {"rewrite-timestamp": "true", "oci-mediatypes": "true", "compression": "gzip",
                          "force-compression": "true"}
    assert r.base_digests == {"base": base_image.digest}  # the tag was resolved to the digest
    assert r.metadata["containerimage.digest"] == r.image_digest == manifest_digests(str(out))[0]
    assert r.daemon.startswith("ephemeral rootful buildkitd v0.32.2") and r.snapshotter in ("overlayfs", "native")
    assert 0 < r.duration < 120
    assert before <= r.started <= r.started + r.duration <= time.time()  # a wall-clock anchor for explain
    with tarfile.open(out) as tf:
        blob = lambda d: tf.extractfile("blobs/sha256/" + d.split(":")[1]).read()  # noqa: E731
        manifest = json.loads(blob(r.image_digest))
        config = json.loads(blob(manifest["config"]["digest"]))
    assert config["created"] == "2023-11-14T22:13:20Z"
    assert all(layer["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip" for layer in manifest["layers"])
    assert [n for n in os.listdir(tmp_path) if n.endswith(".part")] == []


def test_dockerfile_syntax_error_is_build_error_with_buildkit_message(isolated, buildkit_tools, base_image, tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM base\nRUNN echo hi\n")
    out = tmp_path / "out.tar"
    with pytest.raises(BuildError) as exc:
        build(spec_for(str(tmp_path), base_image), str(out), progress="quiet", tools=buildkit_tools)
    msg = str(exc.value)
    assert "unknown instruction" in msg and "RUNN" in msg.upper(), msg
    assert not out.exists() and [n for n in os.listdir(tmp_path) if n.endswith(".part")] == []


def test_failing_run_reports_the_exit_code(isolated, buildkit_tools, base_image, tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM base\nRUN echo about to fail && exit 3\n")
    with pytest.raises(BuildError, match="exit code:? 3"):
        build(spec_for(str(tmp_path), base_image), str(tmp_path / "out.tar"), progress="quiet", tools=buildkit_tools)


def test_builds_go_to_the_given_addresses(isolated, buildkit_tools, base_image, tmp_path):
    with EphemeralDaemon(tools=buildkit_tools) as d1, EphemeralDaemon(tools=buildkit_tools) as d2:
        results = build_many(spec_for("deterministic", base_image), 2, str(tmp_path / "out"),
                             addrs=(d1.addr, d2.addr), progress="quiet", tools=buildkit_tools)
        assert [r.addr for r in results] == [d1.addr, d2.addr]
        assert results[0].daemon == f"buildkitd v0.32.2 at {d1.addr}"
    assert results[0].image_digest == results[1].image_digest


def test_one_failed_build_fails_the_batch_and_stops_the_rest(isolated, buildkit_tools, base_image, tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM base\nRUN exit 7\n")
    with pytest.raises(BuildError, match="exit code:? 7"):
        build_many(spec_for(str(tmp_path), base_image), 2, str(tmp_path / "out"), progress="quiet",
                   tools=buildkit_tools)
    assert sorted(os.listdir(tmp_path / "out")) == []
