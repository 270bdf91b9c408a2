"""Faults from outside: daemons that die or never start, full disks, signals.

Each must end in exit 2 with one clear line, and leave nothing: no buildkitd, buildctl,
rootlesskit or runc process, no mount, no temp dir, and no output file that looks
complete but is not (outputs are written under a temp name and renamed at the end).
What tests/buildkit/test_daemon.py and tests/cli/test_build_check.py already pin (a daemon
killed mid-build through the Python API, a daemon that exits before it is ready, SIGTERM
to `repro check`) is not repeated; this file adds the same faults as a user meets them,
through the CLI. A registry dropping the connection mid-blob is in tests/oci/test_registry.py.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from tests import imagegen as g
from tests.polling import wait_for
from tests.buildkit_fixtures import EPOCH, ROOT, context
from repro.buildkit.procs import mounts_under, processes_mentioning
from tests.corpus import mc

BUILDKIT_PROGRAMS = {"buildkitd", "buildctl", "rootlesskit", "runc", "unshare", "setpriv"}


def env_for(tmpdir: str, **extra: str) -> dict[str, str]:
    env = {**os.environ, "TMPDIR": tmpdir, "PYTHONPATH": ROOT, "LANG": "C.UTF-8", **extra}
    env.pop("SOURCE_DATE_EPOCH", None)
    env.pop("BUILDKIT_HOST", None)
    return env


def repro(args: list[str], tmpdir: str, timeout: float = 300, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "repro", *args], capture_output=True, text=True,
                          env=env_for(tmpdir, **extra), timeout=timeout, cwd=ROOT)


def one_error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("repro: error: "), err
    assert "Traceback" not in err
    return lines[0]


def buildkit_processes(*needles: str) -> list[tuple[int, str]]:
    """(pid, program) of BuildKit-related processes whose command line names any needle."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        program = os.path.basename(argv[0].decode(errors="replace"))
        text = b" ".join(argv)
        if program in BUILDKIT_PROGRAMS and any(n.encode() in text for n in needles):
            found.append((int(entry), program))
    return found


def leftovers(directory: str | Path) -> list[str]:
    """Temp names and partial outputs repro may create beside an output."""
    return sorted(n for n in os.listdir(directory)
                  if n.endswith(".part") or ".partial-" in n or n.startswith(".repro-") or n.startswith("repro-"))


# -- file systems that fill up --------------------------------------------------------------


@contextlib.contextmanager
def small_tmpfs(path: Path, size: str) -> Path:
    path.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)], check=True,
                   capture_output=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "--lazy", str(path)], check=False, capture_output=True)
        assert mounts_under(str(path)) == []


def fill(directory: Path) -> None:
    """Fill a file system to the last byte (then nothing more can be written to it)."""
    fd = os.open(directory / "filler", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        while True:
            os.write(fd, bytes(1 << 16))
    except OSError as e:
        assert e.errno == errno.ENOSPC
    try:
        while True:
            os.write(fd, b"\0")
    except OSError as e:
        assert e.errno == errno.ENOSPC
    finally:
        os.close(fd)


@pytest.fixture
def differing_pair(tmp_path) -> tuple[str, str]:
    spec = g.ImageSpec([g.LayerSpec([g.file("data/blob", os.urandom(1 << 17)), g.file("etc/x", b"1")])])
    other = g.vary(spec, 0, "data/blob", content=os.urandom(1 << 17))
    a, b = tmp_path / "a.tar", tmp_path / "b.tar"
    g.write_image(spec, a)
    g.write_image(other, b)
    return str(a), str(b)


def test_diff_output_to_a_full_disk_keeps_the_old_report_and_leaves_no_temp_file(tmp_path, differing_pair):
    with small_tmpfs(tmp_path / "full", "1m") as full:
        (full / "report.json").write_text('{"verdict": "an older, complete report"}\n')
        fill(full)
        tmpdir = tmp_path / "tmp"
        tmpdir.mkdir()
        r = repro(["diff", *differing_pair, "--format", "json", "-o", str(full / "report.json")], str(tmpdir))
        assert r.returncode == 2, r.stderr
        line = one_error_line(r.stderr)
        assert "cannot write" in line and "report.json" in line and "No space left on device" in line
        assert (full / "report.json").read_text() == '{"verdict": "an older, complete report"}\n'
        assert leftovers(full) == [] and sorted(os.listdir(full)) == ["filler", "report.json"]
        assert os.listdir(tmpdir) == []


def test_report_dir_on_a_full_disk_is_exit_2_naming_it_and_leaves_nothing(tmp_path, differing_pair):
    with small_tmpfs(tmp_path / "full", "1m") as full:
        fill(full)
        tmpdir = tmp_path / "tmp"
        tmpdir.mkdir()
        r = repro(["diff", *differing_pair, "--report-dir", str(full / "rd")], str(tmpdir))
        assert r.returncode == 2, r.stderr
        line = one_error_line(r.stderr)
        assert "--report-dir" in line and "No space left on device" in line
        assert "layer" not in line.split("--report-dir")[0]  # not blamed on the image
        assert sorted(os.listdir(full)) == ["filler"]
        assert os.listdir(tmpdir) == []


def test_report_dir_that_fills_up_while_extracting(tmp_path, differing_pair):
    # room for the directories and a file or two, not for both sides' 128 KiB files
    with small_tmpfs(tmp_path / "small", "160k") as small:
        tmpdir = tmp_path / "tmp"
        tmpdir.mkdir()
        r = repro(["diff", *differing_pair, "--report-dir", str(small / "rd"), "-o", str(small / "r.txt")],
                  str(tmpdir))
        assert r.returncode == 2, r.stderr
        assert "No space left on device" in one_error_line(r.stderr)
        assert os.listdir(small) == []
        assert os.listdir(tmpdir) == []


@pytest.mark.buildkit
def test_build_output_to_a_full_disk_is_exit_2_and_leaves_no_partial_tarball(isolated, base_image, tmp_path):
    with small_tmpfs(tmp_path / "out", "256k") as out:
        r = repro(["build", context("deterministic"), "-o", str(out / "image.tar"), "--build-context",
                   base_image.build_context, "--source-date-epoch", str(EPOCH), "--progress", "quiet"],
                  isolated.dir)
        assert r.returncode == 2, r.stderr
        line = one_error_line(r.stderr)
        assert "no space left on device" in line.lower()
        assert os.listdir(out) == []
    assert buildkit_processes(isolated.dir) == []


# -- daemons that never start or die --------------------------------------------------------

FAKE_BUILDKITD = """#!/bin/sh
# runs, says so, ignores SIGTERM and never listens
case "$1" in --version) echo "buildkitd github.com/moby/buildkit {version} fake"; exit 0;; esac
echo "fake buildkitd {token}: not listening"
trap '' TERM
exec sh -c 'sleep 600' fake-buildkitd "$@"
"""

WITH_START_TIMEOUT = textwrap.dedent("""
    import sys
    from repro.buildkit import daemon
    daemon.EphemeralDaemon.__init__.__kwdefaults__["start_timeout"] = float(sys.argv.pop(1))
    from repro.cli import main
    main(sys.argv[1:])
""")


@pytest.mark.buildkit
def test_buildkitd_that_never_gets_ready_is_exit_2_and_killed(isolated, buildkit_tools, tmp_path):
    token = uuid.uuid4().hex
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "buildkitd").write_text(FAKE_BUILDKITD.format(version=buildkit_tools.version, token=token))
    (bin_dir / "buildkitd").chmod(0o755)
    os.symlink(buildkit_tools.buildctl, bin_dir / "buildctl")
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "Dockerfile").write_text("FROM scratch\n")
    # timeout=: a hang guard; the 3 s start timeout itself is asserted through the message
    r = subprocess.run([sys.executable, "-c", WITH_START_TIMEOUT, "3", "build", str(tmp_path / "ctx"), "-o",
                        str(tmp_path / "out.tar"), "--source-date-epoch", "1", "--progress", "quiet"],
                       capture_output=True, text=True, timeout=60, cwd=ROOT,
                       env=env_for(isolated.dir, PATH=f"{bin_dir}:{os.environ['PATH']}"))
    assert r.returncode == 2, r.stderr
    line = one_error_line(r.stderr)
    assert "did not become ready within 3s" in line and f"fake buildkitd {token}: not listening" in line
    assert processes_mentioning(token) == [] and buildkit_processes(isolated.dir) == []
    assert not (tmp_path / "out.tar").exists() and leftovers(tmp_path) == []


SLOW = "FROM base\nRUN sleep 60; : {token}\n"


def start_check(tmp_path: Path, isolated, base_image, token: str, *extra: str) -> subprocess.Popen:
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "Dockerfile").write_text(SLOW.format(token=token))
    return subprocess.Popen([sys.executable, "-m", "repro", "check", str(tmp_path / "ctx"), "--build-context",
                             base_image.build_context, "--source-date-epoch", "1", "--progress", "quiet",
                             "--keep", str(tmp_path / "keep"), "-o", str(tmp_path / "report.json"),
                             "--report-dir", str(tmp_path / "rd"), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env_for(isolated.dir),
                            cwd=ROOT, start_new_session=True)


def assert_check_left_nothing(tmp_path: Path, isolated, token: str) -> None:
    assert processes_mentioning(token) == []
    assert buildkit_processes(isolated.dir, token) == []
    assert not (tmp_path / "report.json").exists() and not (tmp_path / "rd").exists()
    assert leftovers(tmp_path) == []
    assert [n for n in os.listdir(tmp_path / "keep") if not n.startswith("build-")] == []
    for name in os.listdir(tmp_path / "keep"):  # a kept build is a complete one, never a partial file
        assert name.endswith(".tar") and os.path.getsize(tmp_path / "keep" / name) > 0


@pytest.mark.buildkit
def test_killing_one_buildkitd_during_check_is_exit_2_and_stops_the_other_build(isolated, base_image, tmp_path):
    token = uuid.uuid4().hex
    proc = start_check(tmp_path, isolated, base_image, token)
    wait_for(lambda: len(processes_mentioning(token)) >= 2, what="both builds to reach their RUN", proc=proc)
    daemons = [pid for pid, program in buildkit_processes(isolated.dir) if program == "buildkitd"]
    assert len(daemons) == 2
    os.kill(daemons[0], signal.SIGKILL)
    _, err = proc.communicate(timeout=90)
    assert proc.returncode == 2, err
    line = one_error_line(err)
    assert "died during the build" in line
    assert_check_left_nothing(tmp_path, isolated, token)


@pytest.mark.buildkit
@pytest.mark.parametrize("signum, said", [(signal.SIGINT, "interrupted"), (signal.SIGTERM, "terminated")])
def test_signal_to_the_process_group_during_check(isolated, base_image, tmp_path, signum, said):
    """Ctrl-C in a terminal (SIGINT) and a CI runner's cancel (SIGTERM) go to the whole
    process group: repro and the buildctl processes it runs."""
    token = uuid.uuid4().hex
    proc = start_check(tmp_path, isolated, base_image, token)
    wait_for(lambda: len(processes_mentioning(token)) >= 2, what="both builds to reach their RUN", proc=proc)
    os.killpg(proc.pid, signum)
    _, err = proc.communicate(timeout=90)
    assert proc.returncode == 2, err
    assert said in one_error_line(err)
    assert_check_left_nothing(tmp_path, isolated, token)


# -- signals during a long diff ---------------------------------------------------------------


@pytest.fixture(scope="module")
def big_pair(tmp_path_factory) -> tuple[str, str]:
    return mc.write_big_pair(tmp_path_factory.mktemp("bigfault"), 768 << 20)


@pytest.mark.parametrize("signum, said", [(signal.SIGINT, "interrupted"), (signal.SIGTERM, "terminated")])
def test_signal_while_writing_the_report_dir_leaves_no_partial_output(big_pair, tmp_path, signum, said):
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "repro", "diff", *big_pair, "--report-dir", str(out / "rd"),
                             "-o", str(out / "report.json")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env_for(str(tmpdir)), cwd=ROOT, start_new_session=True)
    wait_for(lambda: any(".partial-" in n for n in os.listdir(out)), what="the report dir to be written", proc=proc)
    os.killpg(proc.pid, signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, err
    assert said in one_error_line(err)
    assert os.listdir(out) == []
    assert os.listdir(tmpdir) == []


def test_a_signal_cannot_be_swallowed_by_error_handling_on_the_way():
    """Code that must never fail a comparison catches Exception (explainer look-ups) or
    ReproError (a corrupt stream blamed on its blob); a signal must pass through both."""
    from repro.cli import Terminated
    from repro.errors import ReproError

    assert not issubclass(Terminated, Exception) and not issubclass(Terminated, ReproError)
    assert not issubclass(Terminated, KeyboardInterrupt)  # click would print a blank line for it
