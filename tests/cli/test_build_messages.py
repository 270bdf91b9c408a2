"""What a user reads when a build fails or succeeds: one line naming the build, the
Dockerfile line, the step and its exit code, with the step's last output under it; off a
terminal, no BuildKit log on success (at most one line per build)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from repro.cli import main
from tests.buildkit_fixtures import EPOCH, ROOT, context
from tests.imagegen import base_spec, vary_image, write_image

FAILING = "FROM base\nRUN echo about to fail && echo line two && false\n"
FAILING_LINE = ("repro: error: {who} failed at Dockerfile:2: [1/2] RUN echo about to fail && echo line two && false: "
                "exit code 1")


def repro(*args: str, tmpdir: str, env: dict[str, str | None] | None = None) -> subprocess.CompletedProcess:
    """`python -m repro ARGS`; `env` adds variables (None: removes one)."""
    full = {**os.environ, "TMPDIR": tmpdir, "PYTHONPATH": ROOT}
    full.pop("SOURCE_DATE_EPOCH", None)
    for k, v in (env or {}).items():
        if v is None:
            full.pop(k, None)
        else:
            full[k] = v
    return subprocess.run([sys.executable, "-m", "repro", *args], capture_output=True, text=True, env=full,
                          timeout=600, cwd=ROOT)


def failing_context(tmp_path, text: str = FAILING) -> str:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(text)
    return str(ctx)


@pytest.mark.buildkit
def test_a_failing_run_is_one_line_then_the_steps_last_output(isolated, base_image, tmp_path):
    r = repro("build", failing_context(tmp_path), "-o", str(tmp_path / "out.tar"), "--build-context",
              base_image.build_context, "--source-date-epoch", str(EPOCH), tmpdir=isolated.dir)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == FAILING_LINE.format(who="build") + "\n  | about to fail\n  | line two\n"
    assert not (tmp_path / "out.tar").exists()


@pytest.mark.buildkit
def test_check_names_the_build_that_failed(isolated, base_image, tmp_path):
    r = repro("check", failing_context(tmp_path), "--build-context", base_image.build_context,
              "--source-date-epoch", str(EPOCH), tmpdir=isolated.dir)
    assert r.returncode == 2 and r.stdout == ""
    lines = r.stderr.splitlines()
    assert re.fullmatch(re.escape(FAILING_LINE.format(who="build X")).replace("X", "[12]"), lines[0]), r.stderr
    assert lines[1:] == ["  | about to fail", "  | line two"]


@pytest.mark.buildkit
def test_on_a_terminal_the_same_line_ends_the_output(isolated, base_image, tmp_path):
    cmd = " ".join([sys.executable, "-m", "repro", "build", failing_context(tmp_path), "-o", str(tmp_path / "o.tar"),
                    "--build-context", base_image.build_context, "--source-date-epoch", str(EPOCH)])
    r = subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True, text=True, timeout=600, cwd=ROOT,
                       env={**os.environ, "TMPDIR": isolated.dir, "PYTHONPATH": ROOT, "TERM": "xterm"})
    assert r.returncode == 2
    tail = [l.rstrip("\r") for l in r.stdout.splitlines()][-3:]
    assert tail == [FAILING_LINE.format(who="build"), "  | about to fail", "  | line two"], r.stdout[-2000:]


@pytest.mark.buildkit
def test_a_failing_copy_names_the_missing_file(isolated, base_image, tmp_path):
    r = repro("build", failing_context(tmp_path, "FROM base\nCOPY nonexist /x\n"), "-o", str(tmp_path / "o.tar"),
              "--build-context", base_image.build_context, "--source-date-epoch", str(EPOCH), tmpdir=isolated.dir)
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1, r.stderr
    # BuildKit prints the step's output block or not (it may cancel the step before it runs)
    assert re.match(r"repro: error: build failed at Dockerfile:2: (\[1/2\] )?COPY nonexist /x: ", r.stderr), r.stderr
    assert r.stderr.rstrip().endswith('"/nonexist": not found'), r.stderr


@pytest.mark.buildkit
def test_success_off_a_terminal_leaves_at_most_one_line_per_build(isolated, base_image, tmp_path):
    r = repro("check", context("deterministic"), "--build-context", base_image.build_context,
              "--source-date-epoch", str(EPOCH), "-o", str(tmp_path / "r.json"), "--format", "json",
              tmpdir=isolated.dir)
    assert r.returncode == 0, r.stderr
    assert len(r.stderr.splitlines()) <= 2, r.stderr
    assert "#1 " not in r.stderr and "fsverity" not in r.stderr
    # --progress plain asks for the log: it is shown, without buildctl's fs-verity noise
    r = repro("build", context("deterministic"), "-o", str(tmp_path / "o.tar"), "--build-context",
              base_image.build_context, "--source-date-epoch", str(EPOCH), "--progress", "plain", tmpdir=isolated.dir)
    assert r.returncode == 0 and "#1 " in r.stderr and "fsverity" not in r.stderr


@pytest.mark.buildkit
def test_a_bare_build_arg_takes_its_value_from_the_environment(isolated, base_image, tmp_path):
    import gzip
    import io
    import tarfile

    ctx = failing_context(tmp_path, 'FROM base\nARG VERSION=default\nRUN echo "v=$VERSION" > /v\n')

    def built(env: dict[str, str | None]) -> bytes:
        out = tmp_path / "o.tar"
        r = repro("build", ctx, "-o", str(out), "--build-arg", "VERSION", "--build-context", base_image.build_context,
                  "--source-date-epoch", str(EPOCH), "-q", tmpdir=isolated.dir, env=env)
        assert r.returncode == 0, r.stderr
        with tarfile.open(out) as t:
            index = json.load(t.extractfile("index.json"))
            manifest = json.load(t.extractfile("blobs/sha256/" + index["manifests"][0]["digest"][7:]))
            layer = t.extractfile("blobs/sha256/" + manifest["layers"][-1]["digest"][7:]).read()
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(layer))) as inner:
            return inner.extractfile("v").read()

    assert built({"VERSION": "1.2.3"}) == b"v=1.2.3\n"
    assert built({"VERSION": None}) == b"v=default\n"  # not set: left out, the ARG default applies


@pytest.mark.buildkit
def test_the_text_report_shows_every_builds_digest(isolated, base_image, tmp_path):
    r = repro("check", context("clock-in-file"), "--builds", "3", "--vary", "--build-context", base_image.build_context,
              "--source-date-epoch", str(EPOCH), "--keep", str(tmp_path / "keep"), "-q", tmpdir=isolated.dir)
    assert r.returncode == 1, r.stderr
    from repro.oci import open_image

    for i in (1, 2, 3):
        with open_image(str(tmp_path / "keep" / f"build-{i}.tar")) as img:
            assert img.digest[:19] in r.stdout, (i, r.stdout)
    assert re.search(r"^comparisons:\n  .*build-1\.tar vs .*build-2\.tar .*\(shown below\)\n  .*build-3\.tar ",
                     r.stdout, re.M), r.stdout


def test_a_missing_dockerfile_named_with_f_does_not_say_use_f(capsys, tmp_path):
    with pytest.raises(SystemExit) as e:
        main(["build", str(tmp_path), "-f", "nonexist.Dockerfile", "-o", str(tmp_path / "o.tar"),
              "--source-date-epoch", "1"])
    assert e.value.code == 2
    assert capsys.readouterr().err == "repro: error: -f nonexist.Dockerfile: no such file\n"
    with pytest.raises(SystemExit):
        main(["build", str(tmp_path), "-o", str(tmp_path / "o.tar"), "--source-date-epoch", "1"])
    assert capsys.readouterr().err == f"repro: error: no Dockerfile in {tmp_path} (name another file with -f)\n"


def test_build_help_promises_no_report(capsys):
    for cmd, says in (("build", False), ("check", True)):
        with pytest.raises(SystemExit):
            main([cmd, "--help"])
        assert ("report's policy" in " ".join(capsys.readouterr().out.split())) is says, cmd


def test_no_manifest_inequality_above_reproducible(capsys, tmp_path):
    write_image(base_spec(), tmp_path / "a.tar")
    write_image(vary_image(base_spec(), created="2024-01-01T00:00:00Z"), tmp_path / "b.tar")
    with pytest.raises(SystemExit) as e:
        main(["diff", str(tmp_path / "a.tar"), str(tmp_path / "b.tar"), "--semantic"])
    out = capsys.readouterr().out
    assert e.value.code == 0 and "≠" not in out
    assert "linux/amd64: equal under the policy (the manifests differ only in what it sets aside)" in out
    assert out.rstrip().endswith("REPRODUCIBLE: no differences; 3 ignored by policy")


def test_step_failure_reads_both_shapes_of_buildkits_summary():
    from repro.buildkit.runner import step_failure

    ran = ["#5 [1/2] RUN make", "#5 0.2 cc main.c", "#5 ERROR: process \"/bin/sh -c make\" did not complete "
           "successfully: exit code: 2", "------", " > [1/2] RUN make:", "0.218 cc main.c", "0.300 main.c:1: error",
           "------", "Dockerfile:2", "--------------------", "   1 |     FROM base", "   2 | >>> RUN make",
           "--------------------", 'error: failed to solve: process "/bin/sh -c make" did not complete '
           "successfully: exit code: 2"]
    f = step_failure(ran)
    assert (f.step, f.location, f.exit_code, f.output) == ("[1/2] RUN make", "Dockerfile:2", 2,
                                                           ("cc main.c", "main.c:1: error"))
    cancelled = ["#6 [1/2] COPY nonexist /x", "#6 CANCELED", "Dockerfile:2", "--------------------",
                 "   1 |     FROM base", "   2 | >>> COPY nonexist /x", "   3 |     ", "--------------------",
                 'error: failed to solve: failed to compute cache key: "/nonexist": not found']
    f = step_failure(cancelled)
    assert (f.step, f.location, f.exit_code, f.output) == ("COPY nonexist /x", "Dockerfile:2", None, ())
    assert f.reason == 'failed to compute cache key: "/nonexist": not found'
    parse = ["#1 [internal] load build definition from Dockerfile", "#1 DONE 0.0s", "Dockerfile:2",
             "--------------------", "   1 |     FROM base", "   2 | >>> RUNN oops", "--------------------",
             "error: failed to solve: dockerfile parse error on line 2: unknown instruction: RUNN (did you mean RUN?)"]
    f = step_failure(parse)
    assert (f.step, f.location, f.exit_code, f.output) == ("", "Dockerfile:2", None, ())
    assert f.reason == "unknown instruction: RUNN (did you mean RUN?)"
    assert step_failure(["error: failed to dial gRPC: connection refused"]) is None
