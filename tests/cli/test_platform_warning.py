"""A build for a platform its base image does not have (#13 point 10): reproducible, but
its executables are for another architecture; the report says so next to the verdict."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.buildkit_fixtures import EPOCH, ROOT, context

pytestmark = pytest.mark.buildkit


def check(isolated, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TMPDIR": isolated.dir, "PYTHONPATH": ROOT}
    return subprocess.run([sys.executable, "-m", "repro", "check", *args], capture_output=True, text=True, env=env,
                          timeout=600, cwd=ROOT)


def test_an_arm64_build_of_an_amd64_only_base_is_warned_about(isolated, base_image, tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM base\nCOPY f /f\n")  # no RUN: nothing needs to execute
    (ctx / "f").write_text("hi\n")
    r = check(isolated, str(ctx), "--platform", "linux/arm64", "--build-context", base_image.build_context,
              "--source-date-epoch", str(EPOCH), "--format", "json", "-o", str(tmp_path / "r.json"))
    assert r.returncode == 0, r.stderr  # the two builds are identical: the verdict stands
    doc = json.loads((tmp_path / "r.json").read_text())
    (w,) = doc["warnings"]
    assert (w["kind"], w["platform"], w["found"], w["matching"], w["example"]) == (
        "platform-mismatch", "linux/arm64", "amd64", 0, "bin/busybox")
    assert f"repro: warning: {w['message']}\n" in r.stderr
    text = check(isolated, str(ctx), "--platform", "linux/arm64", "--build-context", base_image.build_context,
                 "--source-date-epoch", str(EPOCH), "-q").stdout
    assert f"warning: {w['message']}\n" in text


def test_a_build_for_the_bases_own_platform_has_no_warning(isolated, base_image, tmp_path):
    r = check(isolated, context("deterministic"), "--build-context", base_image.build_context,
              "--source-date-epoch", str(EPOCH), "--format", "json", "-q")
    assert r.returncode == 0, r.stderr
    assert "warnings" not in json.loads(r.stdout) and "warning" not in r.stderr
