"""Registries end to end with real BuildKit builds: `repro build --push` and
`repro check --against docker://...`, on a plain and an htpasswd registry."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.buildkit_fixtures import EPOCH, ROOT, context
from tests.registry_fixtures import PASSWORD, Registry, docker_config, need

pytestmark = [pytest.mark.buildkit, pytest.mark.registry]


def repro(*args: str, tmpdir: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    full = {**os.environ, "TMPDIR": tmpdir, "PYTHONPATH": ROOT, **(env or {})}
    full.pop("SOURCE_DATE_EPOCH", None)
    return subprocess.run([sys.executable, "-m", "repro", *args], capture_output=True, text=True, env=full,
                          timeout=timeout, cwd=ROOT)


def build_args(base) -> list[str]:
    return ["--build-context", base.build_context, "--source-date-epoch", str(EPOCH), "--progress", "quiet"]


def push(ctx: str, reg: Registry, name: str, base, tmpdir: str, env: dict[str, str] | None = None) -> str:
    r = repro("build", ctx, "--push", f"{reg.host}/{name}", *reg.flags, *build_args(base), tmpdir=tmpdir, env=env)
    assert r.returncode == 0, r.stderr
    digest = r.stdout.strip()
    assert digest.startswith("sha256:") and f"{reg.host}/{name}@{digest}" in r.stderr
    return digest


def test_build_push_and_tarball_are_the_same_image(isolated, base_image, registry, tmp_path):
    out = tmp_path / "image.tar"
    r = repro("build", context("deterministic"), "-o", str(out), "--push", f"docker://{registry.host}/e2e/det:1",
              "--plain-http", *build_args(base_image), tmpdir=isolated.dir)
    assert r.returncode == 0, r.stderr
    digest = r.stdout.strip()
    r = repro("diff", "--plain-http", "--format", "json", registry.ref("e2e/det:1"), str(out), tmpdir=isolated.dir)
    assert r.returncode == 0, r.stdout + r.stderr
    doc = json.loads(r.stdout)
    assert [i["digest"] for i in doc["inputs"]] == [digest, digest]
    # what skopeo pushes from the tarball is that image too
    skopeo = need("skopeo", "skopeo")
    subprocess.run([skopeo, "--insecure-policy", "copy", "--quiet", "--dest-tls-verify=false",
                    f"oci-archive:{out}", registry.ref("e2e/det:skopeo")], check=True, capture_output=True)
    r = repro("diff", "--plain-http", registry.ref("e2e/det:1"), registry.ref("e2e/det:skopeo"), tmpdir=isolated.dir)
    assert r.returncode == 0, r.stdout + r.stderr


def test_check_against_the_published_image_of_the_same_source_exits_0(isolated, base_image, registry):
    digest = push(context("deterministic"), registry, "e2e/app:1.0", base_image, isolated.dir)
    r = repro("check", context("deterministic"), "--against", registry.ref("e2e/app:1.0"), "--plain-http",
              *build_args(base_image), "--format", "json", tmpdir=isolated.dir)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["verdict"] == "reproducible" and doc["findings"] == []
    pairs = [(c["a"], c["b"], c["verdict"], c["role_a"]) for c in doc["comparisons"]]
    ref = registry.ref("e2e/app:1.0")
    assert pairs == [(ref, "build-1", "reproducible", "against"), (ref, "build-2", "reproducible", "against"),
                     ("build-1", "build-2", "reproducible", "build")]
    assert doc["comparisons"][0]["digest_a"] == digest == doc["build"]["builds"][0]["digest"]


def test_check_against_an_image_built_from_other_source_names_the_pairs(isolated, base_image, registry, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(context("deterministic"), other)
    (other / "app.txt").write_text("a different release\n")
    push(str(other), registry, "e2e/app:1.1", base_image, isolated.dir)
    r = repro("check", context("deterministic"), "--against", registry.ref("e2e/app:1.1"), "--plain-http",
              *build_args(base_image), "--format", "json", tmpdir=isolated.dir)
    assert r.returncode == 1, r.stderr
    doc = json.loads(r.stdout)
    ref = registry.ref("e2e/app:1.1")
    assert [(c["pair"], c["verdict"]) for c in doc["comparisons"]] == [
        (f"{ref} vs build-1", "not-reproducible"), (f"{ref} vs build-2", "not-reproducible"),
        ("build-1 vs build-2", "reproducible")]
    assert [c["reported"] for c in doc["comparisons"]] == [True, False, False]
    assert [(f["path"], f["field"]) for f in doc["findings"]] == [("app/app.txt", "content")]
    assert f"repro: {ref} vs build-1: not-reproducible (1 finding)" in r.stderr
    assert "repro: build-1 vs build-2: reproducible (0 findings)" in r.stderr


def test_check_against_a_nondeterministic_build_exits_1_with_the_path(isolated, base_image, registry):
    push(context("random-bytes"), registry, "e2e/random:1", base_image, isolated.dir)
    r = repro("check", context("random-bytes"), "--against", registry.ref("e2e/random:1"), "--plain-http",
              *build_args(base_image), "--format", "json", tmpdir=isolated.dir)
    assert r.returncode == 1, r.stderr
    doc = json.loads(r.stdout)
    assert [c["verdict"] for c in doc["comparisons"]] == ["not-reproducible"] * 3
    assert [(f["path"], f["field"], f.get("cause")) for f in doc["findings"]] == [("rand", "content", "random-content")]


def test_push_and_check_against_an_authenticated_registry_never_show_the_password(
        isolated, base_image, auth_registry, tmp_path):
    env = {"HOME": str(tmp_path), "REGISTRY_AUTH_FILE": "",
           "DOCKER_CONFIG": docker_config(str(tmp_path / "docker"), auth_registry.host)}
    out: list[str] = []
    r = repro("build", context("deterministic"), "--push", f"{auth_registry.host}/private/app:1", "--plain-http",
              *build_args(base_image), tmpdir=isolated.dir, env=env)
    assert r.returncode == 0, r.stderr
    out += [r.stdout, r.stderr]
    report, attest = tmp_path / "report.json", tmp_path / "attest.json"
    r = repro("check", context("deterministic"), "--against", auth_registry.ref("private/app:1"), "--plain-http",
              "--builds", "1", *build_args(base_image), "--format", "json", "-o", str(report),
              "--attest", str(attest), tmpdir=isolated.dir, env=env)
    assert r.returncode == 0, r.stderr
    out += [r.stdout, r.stderr, report.read_text(), attest.read_text()]
    assert json.loads(report.read_text())["comparisons"][0]["verdict"] == "reproducible"
    # credentials from REGISTRY_AUTH_FILE reach buildctl too (through a symlink, not a copy)
    env2 = {"HOME": str(tmp_path), "DOCKER_CONFIG": str(tmp_path / "empty"),
            "REGISTRY_AUTH_FILE": os.path.join(env["DOCKER_CONFIG"], "config.json")}
    r = repro("build", context("deterministic"), "--push", f"{auth_registry.host}/private/app:2", "--plain-http",
              *build_args(base_image), tmpdir=isolated.dir, env=env2)
    assert r.returncode == 0, r.stderr
    out += [r.stdout, r.stderr]
    r = repro("build", context("deterministic"), "--push", f"{auth_registry.host}/private/app:3", "--plain-http",
              *build_args(base_image), tmpdir=isolated.dir, env={**env2, "REGISTRY_AUTH_FILE": ""})
    assert r.returncode == 2 and "build failed" in r.stderr, r.stderr  # no credentials: BuildKit's 401
    out += [r.stdout, r.stderr]
    assert not [o for o in out if PASSWORD in o]
