"""`repro build`, `repro check`, `repro doctor` end to end, as a user runs them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid

import pytest

from tests.polling import wait_for
from tests.buildkit_fixtures import EPOCH, ROOT, context
from repro.buildkit.procs import processes_mentioning

pytestmark = pytest.mark.buildkit


def repro(*args: str, tmpdir: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "TMPDIR": tmpdir, "PYTHONPATH": ROOT}
    env.pop("SOURCE_DATE_EPOCH", None)
    return subprocess.run([sys.executable, "-m", "repro", *args], capture_output=True, text=True, env=env,
                          timeout=timeout, cwd=ROOT)


def test_check_of_the_deterministic_context_exits_0(isolated, base_image):
    r = repro("check", context("deterministic"), "--build-context", base_image.build_context,
              "--source-date-epoch", str(EPOCH), "--progress", "quiet", "--format", "json", tmpdir=isolated.dir)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["verdict"] == "reproducible" and doc["findings"] == []
    build = doc["build"]
    assert build["buildkit_version"] == "v0.32.2" and build["source_date_epoch"] == EPOCH
    assert build["exporter"]["rewrite-timestamp"] == "true" and build["base_digests"] == {"base": base_image.digest}
    assert len(build["builds"]) == 2 and build["builds"][0]["daemon"] != build["builds"][1]["daemon"]


def test_check_with_vary_finds_the_clock_and_exits_1(isolated, base_image, tmp_path):
    keep = tmp_path / "keep"
    r = repro("check", context("clock-in-file"), "--vary", "--keep", str(keep), "--build-context",
              base_image.build_context, "--source-date-epoch", str(EPOCH), "--progress", "quiet",
              "--format", "json", tmpdir=isolated.dir)
    assert r.returncode == 1, r.stderr
    doc = json.loads(r.stdout)
    assert [(f["path"], f["field"], f["cause"]) for f in doc["findings"]] == [("stamp", "content",
                                                                               "embedded-timestamp")]
    assert doc["build"]["vary"] and doc["build"]["builds"][1]["varied"] is True
    assert sorted(os.listdir(keep)) == ["build-1.tar", "build-2.tar"]


def test_build_prints_the_digest_and_writes_the_tarball(isolated, base_image, tmp_path):
    out = tmp_path / "image.tar"
    r = repro("build", context("deterministic"), "-o", str(out), "--build-context", base_image.build_context,
              "--source-date-epoch", str(EPOCH), "--progress", "plain", tmpdir=isolated.dir)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().startswith("sha256:") and out.is_file()
    assert "#1 " in r.stderr and "built " in r.stderr  # BuildKit's progress went to stderr


def test_build_failure_is_one_line_with_buildkit_message_and_exit_2(isolated, base_image, tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM base\nRUNN oops\n")
    r = repro("build", str(tmp_path), "-o", str(tmp_path / "x.tar"), "--build-context", base_image.build_context,
              "--source-date-epoch", "1", "--progress", "quiet", tmpdir=isolated.dir)
    assert r.returncode == 2
    # a parse error has no step to run: the Dockerfile line, then BuildKit's reason, once
    assert r.stderr == ("repro: error: build failed at Dockerfile:2: unknown instruction: RUNN "
                        "(did you mean RUN?)\n"), r.stderr


def test_missing_epoch_outside_git_is_exit_2_with_a_hint(isolated, tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM base\n")
    env_epoch = {"SOURCE_DATE_EPOCH": "77"}
    r = subprocess.run([sys.executable, "-m", "repro", "build", str(tmp_path), "-o", str(tmp_path / "x.tar")],
                       capture_output=True, text=True, env={**os.environ, **env_epoch, "PYTHONPATH": ROOT,
                                                            "TMPDIR": isolated.dir}, cwd=ROOT, timeout=60)
    assert r.returncode == 2
    assert "--source-date-epoch" in r.stderr and "SOURCE_DATE_EPOCH=77" in r.stderr


def test_doctor_json(isolated):
    r = repro("doctor", "--format", "json", tmpdir=isolated.dir)
    assert r.returncode == 0, r.stdout
    checks = json.loads(r.stdout)
    assert {c["name"] for c in checks} >= {"buildkit", "runc", "rootlesskit", "overlayfs"}


def test_sigterm_during_check_cleans_up_and_exits_2(isolated, base_image, tmp_path):
    token = uuid.uuid4().hex
    (tmp_path / "Dockerfile").write_text(f"FROM base\nRUN sleep 60; : {token}\n")
    env = {**os.environ, "TMPDIR": isolated.dir, "PYTHONPATH": ROOT}
    proc = subprocess.Popen([sys.executable, "-m", "repro", "check", str(tmp_path), "--build-context",
                             base_image.build_context, "--source-date-epoch", "1", "--progress", "quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    wait_for(lambda: len(processes_mentioning(token)) >= 2, what="both builds to reach their RUN", proc=proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, err
    assert "terminated" in err
    assert processes_mentioning(token) == []
    # the isolated fixture asserts no daemon, mount or temp dir is left
