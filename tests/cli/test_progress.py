"""The progress display: stderr only, only on a terminal, never with --quiet, never on stdout."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import sys

import pytest

from tests import imagegen as g
from tests.buildkit_fixtures import EPOCH, ROOT, context
from tests.imagegen import write_image
from repro.cli.progress import BuildSink, Progress, human_bytes
from tests.imagegen import base_spec


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def run_with_stderr_on_a_pty(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run `python -m repro ARGS` with stderr on a pseudo-terminal and stdout on a pipe."""
    master, slave = pty.openpty()
    full_env = {**(env or os.environ), "PYTHONPATH": ROOT}
    full_env.pop("SOURCE_DATE_EPOCH", None)
    proc = subprocess.Popen([sys.executable, "-m", "repro", *args], stdout=subprocess.PIPE, stderr=slave,
                            stdin=subprocess.DEVNULL, env=full_env, cwd=ROOT)
    os.close(slave)
    err = b""
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed its side
            break
        if not data:
            break
        err += data
    os.close(master)
    assert proc.stdout is not None
    out = proc.stdout.read()
    return proc.wait(), out.decode(), err.decode()


def run_piped(*args: str) -> tuple[int, str, str]:
    env = {**os.environ, "PYTHONPATH": ROOT}
    r = subprocess.run([sys.executable, "-m", "repro", *args], capture_output=True, text=True, env=env, cwd=ROOT)
    return r.returncode, r.stdout, r.stderr


@pytest.fixture
def pair(tmp_path):
    many = [g.file(f"data/f{i:04d}", b"x" * 1000) for i in range(1200)]
    spec = base_spec()
    spec.layers.append(g.LayerSpec([g.dir("data"), *many], created_by="COPY data /data # buildkit"))
    write_image(spec, tmp_path / "a.tar")
    write_image(g.vary(spec, 2, "data/f0007", content=b"y" * 1000), tmp_path / "b.tar")
    return str(tmp_path / "a.tar"), str(tmp_path / "b.tar")


# the display itself -----------------------------------------------------------------

def test_nothing_is_drawn_when_stderr_is_not_a_terminal():
    stream = io.StringIO()
    with Progress.for_stderr(stream=stream) as p:
        p.status("comparing")
        p.count(10, 1000)
        p.echo("a line")
    assert stream.getvalue() == "a line\n" and not p.enabled


def test_quiet_draws_nothing_even_on_a_terminal():
    stream = FakeTTY()
    with Progress.for_stderr(stream=stream, quiet=True) as p:
        p.status("comparing")
        p.count(10, 1000)
    assert stream.getvalue() == ""


def test_counts_redraw_at_most_once_per_interval_and_the_line_is_cleared_at_the_end():
    stream, clock = FakeTTY(), Clock()
    p = Progress(stream, interval=0.1, clock=clock)
    p.status("comparing linux/amd64 layer 1")
    for _ in range(1000):  # a hot loop: no redraw until the interval has passed
        p.count(1, 4096)
    assert stream.getvalue().count("\r") == 1
    clock.now += 0.2
    p.count(1, 4096)
    assert stream.getvalue().count("\r") == 2
    assert stream.getvalue().endswith("comparing linux/amd64 layer 1 · 1001 files, 4.1 MB read · 0s")
    p.clear()
    assert stream.getvalue().endswith("\r\x1b[K")


def test_echo_does_not_tear_the_line():
    stream = FakeTTY()
    p = Progress(stream)
    p.status("working")
    p.echo("repro: warning: something")
    assert "\r\x1b[Krepro: warning: something\n\r\x1b[Kworking" in stream.getvalue()


def test_build_sink_shows_each_build_s_current_step_not_its_log():
    stream = FakeTTY()
    sink = BuildSink(Progress(stream), 2)
    sink.write("[build 1] #6 [stage-0 1/2] RUN date > /stamp\n[build 1] #6 0.104 some output of the step\n")
    sink.write("[build 2] #5 [internal] load build context\n[build 2] #5 DONE 0.0s\n[build 1] #")
    line = stream.getvalue().rsplit("\r\x1b[K", 1)[1]
    assert line.startswith("building 0/2 done — build 1: RUN date > /stamp; build 2: load build context")
    sink.build_done("build 1")
    assert stream.getvalue().rsplit("\r\x1b[K", 1)[1].startswith("building 1/2 done — build 2: load build context")


def test_human_bytes():
    assert [human_bytes(n) for n in (0, 999, 1000, 2_500_000, 7 * 10**9)] == ["0 B", "999 B", "1.0 kB", "2.5 MB",
                                                                               "7.0 GB"]


# the commands -------------------------------------------------------------------------

def test_diff_on_a_terminal_shows_progress_on_stderr_and_keeps_stdout_clean(pair):
    code, out, err = run_with_stderr_on_a_pty("diff", *pair)
    piped_code, piped_out, piped_err = run_piped("diff", *pair)
    assert code == piped_code == 1
    assert out == piped_out and "\x1b" not in out and "\r" not in out  # the report, byte for byte
    assert "comparing linux/amd64 layer 2" in err and err.endswith("\r\x1b[K")
    assert piped_err == ""  # not a terminal: silent


def test_quiet_silences_progress_on_a_terminal(pair, tmp_path):
    for args in (("--quiet", "diff", *pair), ("diff", "-q", *pair, "-o", str(tmp_path / "r.txt"))):
        code, out, err = run_with_stderr_on_a_pty(*args)
        assert code == 1 and err == ""


@pytest.mark.buildkit
def test_check_on_a_terminal_shows_one_status_line_for_parallel_builds(base_image):
    code, out, err = run_with_stderr_on_a_pty("check", context("deterministic"), "--build-context",
                                              base_image.build_context, "--source-date-epoch", str(EPOCH))
    assert code == 0, err
    assert "building 0/2 done — build 1: " in err and "building 2/2 done" in err
    assert "#1 [internal]" not in err  # BuildKit's plain logs are summarised, not shown
    assert out.startswith("A: build-1") and out.rstrip().endswith("REPRODUCIBLE: no differences")
    assert "\x1b" not in out
