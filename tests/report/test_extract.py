"""--report-dir: both sides of differing files, and nothing ever written outside DIR."""

from __future__ import annotations

import json
import os

import pytest

from repro.cli import main
from repro.diff import DiffOptions, diff_images, fetch_contents
from repro.errors import InputError
from repro.extract import extract, safe_relpath
from repro.oci import open_image
from repro.report import build_report
from tests import imagegen as g
from tests.imagegen import ImageSpec, LayerSpec, write_image

HOSTILE = ["../../escape", "/abs/olute", "a/../../up", "..", "ok/../../../x"]


def hostile_spec(content: bytes) -> ImageSpec:
    files = [g.file(name, content) for name in HOSTILE]
    files += [g.symlink("link", "/etc"), g.file("link/passwd", content),
              g.symlink("out", "../../.."), g.file("out/pwned", content),
              g.hardlink("hl", "/etc/shadow"), g.file("big", content * 1000),
              g.file(b"caf\xe9-latin1".decode("utf-8", "surrogateescape"), content)]
    return ImageSpec(layers=[LayerSpec(files, created_by="RUN make-trouble # buildkit")])


def tree(root):
    out = set()
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            out.add(os.path.relpath(os.path.join(d, n), root))
    return out


@pytest.mark.parametrize("path,want", [("../../x", "%2E%2E/%2E%2E/x"), ("/a/b", "a/b"), ("..", "%2E%2E"),
                                       ("", "%2E"), ("a/./b", "a/b")])
def test_safe_relpath_never_leaves(path, want):
    assert safe_relpath(path) == want


def test_hostile_names_and_links_never_write_outside_the_report_dir(tmp_path, capsys):
    box = tmp_path / "box"
    box.mkdir()
    write_image(hostile_spec(b"A"), box / "a.tar")
    write_image(hostile_spec(b"B"), box / "b.tar")
    before = tree(tmp_path)
    report = box / "report"
    with pytest.raises(SystemExit) as e:
        main(["diff", str(box / "a.tar"), str(box / "b.tar"), "--report-dir", str(report)])
    capsys.readouterr()
    assert e.value.code == 1
    after = tree(tmp_path)
    new = {p for p in after - before}
    assert all(p == "box/report" or p.startswith("box/report/") for p in new), sorted(new)
    assert not any(os.path.islink(os.path.join(d, n)) for d, _, fs in os.walk(report) for n in fs)
    assert (report / "a" / "%2E%2E" / "%2E%2E" / "escape").read_bytes() == b"A"
    assert (report / "b" / "abs" / "olute").read_bytes() == b"B"
    assert (report / "b" / "link" / "passwd").read_bytes() == b"B"  # a directory here, never the link
    assert (report / "a" / "big").read_bytes() == b"A" * 1000
    doc = json.loads((report / "report.json").read_text())
    assert doc["verdict"] == "not-reproducible"
    assert not os.path.exists("/etc/pwned") and not (tmp_path.parent / "pwned").exists()


def test_report_dir_must_be_empty_and_nothing_partial_is_left(tmp_path):
    write_image(simple := ImageSpec(layers=[LayerSpec([g.file("x", b"1")])]), tmp_path / "a.tar")
    write_image(ImageSpec(layers=[LayerSpec([g.file("x", b"2")])]), tmp_path / "b.tar")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep").write_text("mine")
    with open_image(str(tmp_path / "a.tar")) as a, open_image(str(tmp_path / "b.tar")) as b:
        r = diff_images(a, b, DiffOptions(keep_files=True))
    doc = build_report(r)
    with fetch_contents(r) as contents:  # the images are closed: extract writes what the diff captured
        with pytest.raises(InputError, match="not empty"):
            extract(r, r.findings, contents, doc, str(tmp_path / "full"))
        assert (tmp_path / "full" / "keep").read_text() == "mine"
        counts = extract(r, r.findings, contents, doc, str(tmp_path / "out"))
    assert counts == {"files": 2}
    assert (tmp_path / "out" / "a" / "x").read_bytes() == b"1" and (tmp_path / "out" / "b" / "x").read_bytes() == b"2"
    assert not [p for p in os.listdir(tmp_path) if ".partial-" in p]
    assert simple is not None


def test_a_signal_right_after_mkdtemp_leaves_no_partial_dir(tmp_path, monkeypatch):
    # perf's note: SIGINT between mkdtemp and the try used to leave DIR.partial-XXXX behind
    import signal
    import tempfile

    import repro.extract as ex

    write_image(ImageSpec([LayerSpec([g.file("x", b"1")])]), tmp_path / "a.tar")
    write_image(ImageSpec([LayerSpec([g.file("x", b"2")])]), tmp_path / "b.tar")
    with open_image(str(tmp_path / "a.tar")) as a, open_image(str(tmp_path / "b.tar")) as b:
        r = diff_images(a, b, DiffOptions(keep_files=True))
    real = tempfile.mkdtemp

    def mkdtemp_then_signal(*args, **kwargs):  # type: ignore[no-untyped-def]
        made = real(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGINT)  # arrives with the directory made, before extract knows its name
        return made

    monkeypatch.setattr(ex.tempfile, "mkdtemp", mkdtemp_then_signal)
    # Python's own SIGINT handler, whatever this process inherited (a CI job started in the
    # background by a non-interactive shell has SIGINT ignored)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with fetch_contents(r) as contents, pytest.raises(KeyboardInterrupt):
            extract(r, r.findings, contents, build_report(r), str(tmp_path / "out"))
    finally:
        signal.signal(signal.SIGINT, previous)
    assert sorted(os.listdir(tmp_path)) == ["a.tar", "b.tar"]
