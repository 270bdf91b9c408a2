"""check warns about a `# syntax=` frontend pinned by tag (an input that can change under it)."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.buildkit_fixtures import ROOT


def _check(tmp_path, first_line: str) -> subprocess.CompletedProcess:
    ctx = tmp_path / "ctx"
    ctx.mkdir(exist_ok=True)
    (ctx / "Dockerfile").write_text(first_line + "FROM scratch\nCOPY Dockerfile /\n")
    return subprocess.run([sys.executable, "-m", "repro", "check", str(ctx), "--source-date-epoch", "1",
                           "--progress", "quiet", "--addr", "unix:///nonexistent/buildkitd.sock"],
                          capture_output=True, text=True, timeout=300, cwd=ROOT, env={**os.environ})


def test_a_syntax_directive_by_tag_is_named_before_the_builds(tmp_path) -> None:
    run = _check(tmp_path, "# syntax=docker/dockerfile:1\n")
    assert "warning:" in run.stderr and "'# syntax=docker/dockerfile:1'" in run.stderr
    assert run.returncode == 2  # then the (unreachable) daemon is the trouble
    pinned = _check(tmp_path, "# syntax=docker/dockerfile:1@sha256:" + "0" * 64 + "\n")
    assert "warning:" not in pinned.stderr
    plain = _check(tmp_path, "")
    assert "warning:" not in plain.stderr and plain.returncode == 2
