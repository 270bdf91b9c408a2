"""Fail before building (#13 point 3): every output path, --report-dir, --keep, --attest
and the --against image (a registry's manifest resolved) are checked before the first
build starts, so a typo costs a second, not two builds. "No build started" is seen in
the private TMPDIR every ephemeral daemon and build would use: it stays empty."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.buildkit_fixtures import EPOCH, ROOT, context


def check(tmp_path, *args: str) -> subprocess.CompletedProcess:
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir(exist_ok=True)
    env = {**os.environ, "TMPDIR": str(tmpdir), "PYTHONPATH": ROOT}
    r = subprocess.run([sys.executable, "-m", "repro", "check", context("clock-in-file"), "--source-date-epoch",
                        str(EPOCH), "--build-context", f"base=oci-layout://{tmp_path}/no-base-needed", *args],
                       capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)
    assert os.listdir(tmpdir) == [], "a daemon or a build started"
    return r


@pytest.mark.parametrize("args, message", [
    (["--against", "/tmp/nonexist.tar"], "repro: error: --against /tmp/nonexist.tar: no such file or directory"),
    (["--against", "docker://127.0.0.1:9/x:y"], "repro: error: --against docker://127.0.0.1:9/x:y: 127.0.0.1:9: "
                                                "connection refused"),
    (["-o", "/nonexistent-dir/r.txt"], "repro: error: -o /nonexistent-dir/r.txt: directory /nonexistent-dir does not "
                                       "exist"),
    (["--attest", "/nonexistent/a.json"], "repro: error: --attest /nonexistent/a.json: directory /nonexistent does "
                                          "not exist"),
    (["--report-dir", "/nonexistent/rd"], "repro: error: --report-dir /nonexistent/rd: parent directory /nonexistent "
                                          "does not exist"),
    (["--keep", "/proc/x"], "repro: error: --keep /proc/x: cannot create it in /proc (not writable)"),
    (["-o", "/proc"], "repro: error: check: invalid value for '-o' / '--output': File '/proc' is a directory"),
])
def test_bad_outputs_and_images_fail_before_any_build(tmp_path, args, message):
    r = check(tmp_path, *args)
    assert r.returncode == 2 and r.stdout == ""
    assert len(r.stderr.splitlines()) == 1 and r.stderr.startswith(message), r.stderr


def test_a_report_dir_that_is_not_empty_fails_before_any_build(tmp_path):
    (tmp_path / "rd").mkdir()
    (tmp_path / "rd" / "old").write_text("x")
    r = check(tmp_path, "--report-dir", str(tmp_path / "rd"))
    assert r.returncode == 2 and r.stderr == f"repro: error: --report-dir {tmp_path / 'rd'}: directory is not empty\n"


@pytest.mark.registry
def test_a_missing_tag_in_a_real_registry_fails_before_any_build(tmp_path, registry):
    r = check(tmp_path, "--against", registry.ref("nobody/nothing:1"), "--plain-http")
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1, r.stderr
    assert r.stderr.startswith(f"repro: error: --against {registry.ref('nobody/nothing:1')}: "), r.stderr


def test_diff_checks_its_outputs_before_reading_the_images(tmp_path):
    env = {**os.environ, "PYTHONPATH": ROOT}
    r = subprocess.run([sys.executable, "-m", "repro", "diff", "/nonexistent-a.tar", "/nonexistent-b.tar",
                        "-o", "/nonexistent-dir/r.txt"], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 2
    assert r.stderr == "repro: error: -o /nonexistent-dir/r.txt: directory /nonexistent-dir does not exist\n"
