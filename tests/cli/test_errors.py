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
    assert lines[0].startswith("repro: error: ") and "Usage" not in err


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


@pytest.mark.parametrize("args, expected", [
    (["check", "--vray"], "repro: error: check: no such option '--vray' (did you mean one of: '--no-vary', "
                          "'--vary'?); see 'repro check --help'"),
    (["diff", "a", "b", "--format", "jsn"], "repro: error: diff: invalid value for '--format': 'jsn' is not one of "
                                            "'text', 'json', 'markdown', 'html', 'junit' (did you mean 'json'?); "
                                            "see 'repro diff --help'"),
    (["chek", "."], "repro: error: no such command 'chek' (did you mean 'check'?); see 'repro --help'"),
    (["check", "--progress", "plian"], "(did you mean 'plain'?)"),
    (["diff", "a"], "repro: error: diff: missing argument 'IMAGE_B'; see 'repro diff --help'"),
    (["diff", "--format"], "repro: error: diff: option '--format' requires an argument; see 'repro diff --help'"),
    (["diff", "a", "b", "--format", "xyzzy"], "'junit'; see 'repro diff --help'"),  # nothing near: no guess
])
def test_usage_errors_are_one_line_with_the_nearest_spelling(capsys, args, expected):
    code, out, err = run(capsys, *args)
    assert_one_line_error(code, err)
    assert expected in err and out == ""


def test_every_choice_option_suggests_the_nearest_choice():
    import click

    from repro.cli import cli
    from repro.cli.options import Choice

    def params(cmd):
        yield from cmd.params
        for sub in getattr(cmd, "commands", {}).values():
            yield from params(sub)

    choices = [p for p in params(cli) if isinstance(p.type, click.Choice)]
    assert len(choices) >= 5
    assert all(isinstance(p.type, Choice) for p in choices), [p.name for p in choices if not isinstance(p.type, Choice)]


def test_usage_error_from_the_console_script_is_exactly_one_line(tmp_path):
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "repro", "check", str(tmp_path), "--vray"], capture_output=True,
                         text=True, timeout=60, cwd=tmp_path)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr == ("repro: error: check: no such option '--vray' (did you mean one of: '--no-vary', "
                          "'--vary'?); see 'repro check --help'\n")


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


def test_keep_in_a_directory_that_cannot_be_made_is_one_line(capsys):
    ctx = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "testdata",
                       "contexts", "clock-in-file")
    code, out, err = run(capsys, "check", ctx, "--keep", "/proc/x", "--source-date-epoch", "1")
    assert_one_line_error(code, err)
    assert err == "repro: error: --keep /proc/x: cannot create it in /proc (not writable)\n"  # before any build
