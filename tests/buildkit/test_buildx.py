"""`--builder buildx[:NAME]`: builds through `docker buildx build`, compared like any other pair.

The builder uses buildx's remote driver on an ephemeral buildkitd (no Docker daemon);
the docker driver is refused with a way out.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.buildkit_fixtures import EPOCH, ROOT, context
from repro.buildkit import BuildSpec
from repro.buildkit import run_build
from repro.buildkit.buildx import (Buildx, BuildxBackend, BuildxBuilder, buildx_argv, parse_builder,
                                    resolve_builder)
from repro.errors import BuildError, InputError

pytestmark = pytest.mark.buildkit


def repro(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**env, "PYTHONPATH": ROOT}
    env.pop("SOURCE_DATE_EPOCH", None)
    return subprocess.run([sys.executable, "-m", "repro", *args], capture_output=True, text=True, env=env,
                          timeout=timeout, cwd=ROOT)


def test_buildctl_and_buildx_builds_of_one_context_are_identical_and_the_report_names_both(buildx_remote, base_image):
    r = repro("check", context("deterministic"), "--build-context", base_image.build_context,
              "--source-date-epoch", str(EPOCH), "--builder", "buildctl", "--builder", buildx_remote.ref,
              "--progress", "quiet", "--format", "json", env=buildx_remote.env())
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["verdict"] == "reproducible"
    one, two = doc["build"]["builds"]
    assert (one["builder"], one["driver"]) == ("buildctl", "ephemeral")
    assert (two["builder"], two["driver"]) == (buildx_remote.ref, "remote")
    assert buildx_remote.addr in two["daemon"] and one["digest"] == two["digest"]
    assert doc["build"]["buildkit_version"] == "v0.32.2" and doc["build"]["base_digests"] == {"base": base_image.digest}


def test_a_nondeterministic_context_differs_across_builders_with_the_usual_explanation(buildx_remote, base_image):
    r = repro("check", context("random-bytes"), "--build-context", base_image.build_context,
              "--source-date-epoch", str(EPOCH), "--builder", buildx_remote.ref, "--builder", "buildctl",
              "--progress", "quiet", env=buildx_remote.env())
    assert r.returncode == 1, r.stderr
    assert f"builders: {buildx_remote.ref} (remote), buildctl (ephemeral)" in r.stdout
    assert "rand  content" in r.stdout and "cause: random-content" in r.stdout


def test_repro_build_through_buildx_writes_an_oci_tarball_and_prints_its_digest(buildx_remote, base_image, tmp_path):
    out = tmp_path / "image.tar"
    r = repro("build", context("deterministic"), "-o", str(out), "--builder", buildx_remote.ref,
              "--build-context", base_image.build_context, "--source-date-epoch", str(EPOCH), "--progress", "plain",
              env=buildx_remote.env())
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().startswith("sha256:") and f"buildx builder {buildx_remote.name} (remote driver" in r.stderr
    assert "exporting to oci image format" in r.stderr  # buildx's own progress, on stderr
    from tests.buildkit_fixtures import manifest_digests

    assert manifest_digests(str(out)) == [r.stdout.strip()]  # no attestation manifest: provenance is off


def test_a_failing_buildx_build_names_the_builder_and_quotes_buildkit(buildx_remote, base_image, tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM base\nRUN echo no-such-luck && false\n")
    builder = resolve_builder(_bx(), buildx_remote.name)
    spec = BuildSpec(context=str(ctx), source_date_epoch=EPOCH, build_contexts=(base_image.build_context,))
    with pytest.raises(BuildError) as e:
        run_build(BuildxBackend(_bx(), builder), spec, str(tmp_path / "out.tar"), progress="quiet")
    assert str(e.value) == (f"build on buildx builder {buildx_remote.name} failed at Dockerfile:2: "
                            "[1/2] RUN echo no-such-luck && false: exit code 1")
    assert e.value.details == ("no-such-luck",)
    assert sorted(os.listdir(tmp_path)) == ["ctx"]  # no partial tarball left


def test_the_docker_driver_is_refused_with_how_to_create_a_builder(buildx_remote, base_image):
    subprocess.run(["docker", "context", "create", "repro-dockerd", "--docker", "host=unix:///nonexistent.sock"],
                   env=buildx_remote.env(), check=True, capture_output=True)
    for name in ("default", "repro-dockerd"):
        r = repro("check", context("deterministic"), "--build-context", base_image.build_context,
                  "--source-date-epoch", str(EPOCH), "--builder", f"buildx:{name}", env=buildx_remote.env())
        assert r.returncode == 2
        assert f"buildx builder '{name}' uses the docker driver" in r.stderr
        assert "docker buildx create --name repro --driver docker-container --use" in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1


def test_an_unknown_builder_lists_the_known_ones(buildx_remote):
    with pytest.raises(InputError, match=rf"no buildx builder named 'nope' \(builders: .*{buildx_remote.name}"):
        resolve_builder(_bx(), "nope")


def test_builder_values():
    assert parse_builder("buildctl") is None and parse_builder("buildx") == "" and parse_builder("buildx:ci-1") == "ci-1"
    for bad in ("docker", "buildx:", "buildx:-x", "buildx:a b"):
        with pytest.raises(InputError, match="--builder"):
            parse_builder(bad)


def test_buildx_gets_the_same_reproducibility_settings_as_buildctl():
    spec = BuildSpec(context="ctx", source_date_epoch=EPOCH, build_args=("A=1",), target="final",
                     platforms=("linux/amd64", "linux/arm64"))
    argv = buildx_argv(Buildx("docker", "v0.36.1"), BuildxBuilder("ci", "remote"), spec, "/ctx", "/ctx/Dockerfile",
                       ["--build-context", "base=oci-layout:///b@sha256:" + "0" * 64], spec.exporter_options(),
                       "/out/.x.part", "/w/meta.json", "plain")
    assert argv[:5] == ["docker", "buildx", "build", "--builder", "ci"]
    for flag in ("--no-cache", "--provenance=false", "--sbom=false"):
        assert flag in argv
    assert argv[argv.index("--build-arg") + 1] == f"SOURCE_DATE_EPOCH={EPOCH}"
    out = argv[argv.index("--output") + 1]
    assert out == ("type=oci,dest=/out/.x.part,rewrite-timestamp=true,oci-mediatypes=true,compression=gzip,"
                   "force-compression=true")
    assert argv[argv.index("--platform") + 1] == "linux/amd64,linux/arm64" and argv[-1] == "/ctx"
    assert not any(a.startswith("--attest") or a == "--push" for a in argv)


def _bx() -> Buildx:
    from repro.buildkit.buildx import find_buildx

    return find_buildx()
