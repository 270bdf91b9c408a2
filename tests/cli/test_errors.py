"""Trouble is one line on stderr and exit 2 — never a traceback, never exit 1."""

from __future__ import annotations

import io
import os
import tarfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from repro.cli import main


def run(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def assert_one_line_error(code: int, err: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("repro: error: ") or lines[0].startswith("Error: ") or "Usage" in err


def test_missing_file_is_exit_2_naming_it(capsys, tmp_path):
    missing = tmp_path / "nope.tar"
    code, out, err = run(capsys, "diff", str(missing), str(missing))
    assert_one_line_error(code, err)
    assert "nope.tar" in err and out == ""


def test_unknown_transport_is_exit_2(capsys):
    code, _, err = run(capsys, "diff", "ftp:x", "ftp:y")
    assert code == 2 and "Traceback" not in err


def test_usage_error_is_exit_2_not_1(capsys):
    code, _, err = run(capsys, "diff", "only-one")
    assert code == 2 and "Traceback" not in err


def test_version_names_the_buildkit_it_drives(capsys):
    code, out, _ = run(capsys, "--version")
    assert code == 0
    assert "repro 0.1.0" in out and "BuildKit v0.32.2" in out


def test_debug_shows_the_traceback(capsys, tmp_path):
    code, _, err = run(capsys, "--debug", "diff", str(tmp_path / "x"), str(tmp_path / "y"))
    assert code == 2 and "Traceback" in err


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=4096))
def test_random_bytes_as_an_image_are_exit_2(capsys, tmp_path_factory, blob):
    d = tmp_path_factory.mktemp("rnd")
    p = d / "img.tar"
    p.write_bytes(blob)
    code, out, err = run(capsys, "diff", str(p), str(p))
    assert_one_line_error(code, err)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.sampled_from(["index.json", "oci-layout", "manifest.json", "blobs/sha256/x", "a"]),
                       st.binary(max_size=200), min_size=1))
def test_random_tars_as_an_image_are_exit_2(capsys, tmp_path_factory, members):
    d = tmp_path_factory.mktemp("rndtar")
    p = d / "img.tar"
    with tarfile.open(p, "w") as tf:
        for name, data in members.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    code, out, err = run(capsys, "diff", str(p), str(p))
    assert_one_line_error(code, err)
    assert sorted(os.listdir(d)) == ["img.tar"]  # nothing written beside the input
