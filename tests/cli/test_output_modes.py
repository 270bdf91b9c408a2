"""Outputs get the usual umask modes: a report written under sudo must be readable by the
CI user who uploads it (GitHub Actions). Temp dirs of our own may stay private."""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
import sys

import pytest

from repro.cli import main
from tests.buildkit_fixtures import EPOCH, ROOT, context
from tests.imagegen import base_spec, vary, write_image


@contextlib.contextmanager
def umask(value: int):
    old = os.umask(value)
    try:
        yield
    finally:
        os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077])
def test_report_attestation_and_report_dir_get_umask_modes(capsys, tmp_path, mask):
    write_image(base_spec(), tmp_path / "a.tar")
    write_image(vary(base_spec(), 1, "etc/stamp", content=b"other\n"), tmp_path / "b.tar")
    out = tmp_path / "out"
    out.mkdir()
    with umask(mask), pytest.raises(SystemExit) as e:
        main(["diff", str(tmp_path / "a.tar"), str(tmp_path / "b.tar"), "--format", "junit", "-q",
              "-o", str(out / "report.junit"), "--attest", str(out / "att.json"), "--report-dir", str(out / "rd")])
    capsys.readouterr()
    assert e.value.code == 1
    assert mode(out / "report.junit") == 0o666 & ~mask
    assert mode(out / "att.json") == 0o666 & ~mask
    assert mode(out / "rd") == 0o777 & ~mask
    for dirpath, dirnames, _ in os.walk(out / "rd"):
        for d in dirnames:
            assert mode(os.path.join(dirpath, d)) == 0o777 & ~mask, d
    assert sorted(os.listdir(out)) == ["att.json", "rd", "report.junit"]  # no temp file left beside them


def test_every_writer_of_an_html_report_gets_the_usual_mode(capsys, tmp_path):
    write_image(base_spec(), tmp_path / "a.tar")
    with umask(0o022), pytest.raises(SystemExit):
        main(["diff", str(tmp_path / "a.tar"), str(tmp_path / "a.tar"), "--format", "html", "-q",
              "-o", str(tmp_path / "r.html")])
    capsys.readouterr()
    assert mode(tmp_path / "r.html") == 0o644


@pytest.mark.buildkit
def test_built_tarball_gets_the_umask_mode(isolated, base_image, tmp_path):
    out = tmp_path / "image.tar"
    env = {**os.environ, "TMPDIR": isolated.dir, "PYTHONPATH": ROOT}
    r = subprocess.run(["sh", "-c", 'umask 022 && exec "$@"', "sh", sys.executable, "-m", "repro", "build",
                        context("deterministic"), "-o", str(out), "--build-context", base_image.build_context,
                        "--source-date-epoch", str(EPOCH), "-q"],
                       capture_output=True, text=True, env=env, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert mode(out) == 0o644


def test_an_output_that_is_a_pipe_or_device_is_written_into_not_replaced(capsys, tmp_path):
    # `-o /dev/null` as root once replaced /dev/null with a regular file (the temp-file rename):
    # here a FIFO stands in for the device
    import threading

    write_image(base_spec(), tmp_path / "a.tar")
    fifo = tmp_path / "report.fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    with pytest.raises(SystemExit) as e:
        main(["diff", str(tmp_path / "a.tar"), str(tmp_path / "a.tar"), "--format", "json", "-q", "-o", str(fifo)])
    reader.join(30)
    capsys.readouterr()
    assert e.value.code == 0
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert b'"verdict": "reproducible"' in got[0]
    assert sorted(os.listdir(tmp_path)) == ["a.tar", "report.fifo"]  # no temp file beside it


def test_a_pipe_named_where_no_file_can_be_made_is_still_an_output(capsys, tmp_path):
    # the fail-fast check (atomic.check_output_file) must not ask a device or a pipe's
    # directory for room: /proc/self/fd takes no new file, not even from root
    write_image(base_spec(), tmp_path / "a.tar")
    r, w = os.pipe()
    try:
        with pytest.raises(SystemExit) as e:
            main(["diff", str(tmp_path / "a.tar"), str(tmp_path / "a.tar"), "--format", "json", "-q",
                  "-o", f"/proc/self/fd/{w}"])
        assert e.value.code == 0, capsys.readouterr().err
    finally:
        os.close(w)
    with os.fdopen(r, "rb") as f:
        assert b'"verdict": "reproducible"' in f.read()
