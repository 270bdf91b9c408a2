"""The hostile-input corpus (testdata/make_corpus.py), case by case.

A broken image: exit 2, one short line on stderr naming the problem, no traceback,
no report directory (not even a partial one), nothing written anywhere else. A
valid-but-odd pair: exit 0 or 1 as the case says, a complete report directory, and
nothing written outside it. Every case runs in-process (fast); a sample per level runs
as a real subprocess too (real exit codes, real stderr encoding). The 1 GiB-layer diff
is here as well: its memory bound is a property of every run, so it is a test (peak
RSS of the `repro diff` subprocess, tests/peak_rss.py), not a benchmark.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile

import pytest

from tests import ROOT
from tests.corpus import mc
from tests.peak_rss import run_with_peak_rss

CASES = mc.case_names()
CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
MAX_ERROR = 400  # characters in the one error line: short enough to read, long enough to name things


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> tuple[str, dict]:
    root = str(tmp_path_factory.mktemp("corpus"))
    cases = {c.name: c for c in mc.generate(root)}
    return root, cases


def tree(root: str) -> set[str]:
    """Every path below `root` (files, dirs, links), relative; FIFOs included."""
    out = set()
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            out.add(os.path.relpath(os.path.join(d, n), root))
    return out


def check_outcome(case, code: int, out: str, err: str, sandbox: str, report: str) -> None:
    assert "Traceback" not in err and "Traceback" not in out, err
    assert code in case.expect, f"{case.name}: exit {code}, want {case.expect}: {err}"
    if case.expect == (2,):
        lines = err.splitlines()
        assert len(lines) == 1, f"{case.name}: stderr is not one line: {err!r}"
        line = lines[0]
        assert line.startswith("repro: error: "), line
        assert case.message in line, f"{case.name}: {line!r} does not name {case.message!r}"
        assert len(line) <= MAX_ERROR, f"{case.name}: error line of {len(line)} characters"
        assert not CONTROL.search(line), f"{case.name}: control character in {line!r}"
        assert out == ""
        assert not os.path.exists(report), f"{case.name}: a report dir was left for a failed run"
    else:
        assert err == "", err
        with open(os.path.join(report, "report.json"), encoding="utf-8") as f:
            doc = json.load(f)
        assert doc["verdict"] == ("reproducible" if code == 0 else "not-reproducible")
        real = os.path.realpath(report)
        for d, dirs, files in os.walk(report):
            for n in dirs + files:
                p = os.path.join(d, n)
                assert not os.path.islink(p), f"{case.name}: symlink {p} in the report dir"
                assert os.path.realpath(p).startswith(real + os.sep)
    leftovers = [p for p in tree(sandbox) if ".partial-" in p or p.endswith(".part")]
    assert leftovers == [], leftovers


@pytest.mark.parametrize("name", CASES)
def test_corpus_case(name, corpus, tmp_path, capsys, monkeypatch):
    from repro.cli import main

    root, cases = corpus
    case = cases[name]
    sandbox = str(tmp_path / "sandbox")
    os.mkdir(sandbox)
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))
    report = os.path.join(sandbox, "report")
    inputs = os.path.join(root, name)
    before_inputs, before_good = tree(inputs), os.stat(os.path.join(root, "good.tar")).st_mtime_ns

    with pytest.raises(SystemExit) as exc:
        main(case.argv(root, report))
    out, err = capsys.readouterr()

    check_outcome(case, exc.value.code, out, err, sandbox, report)
    assert tree(sandbox) - {"report"} == {p for p in tree(sandbox) if p.startswith("report" + os.sep)}
    assert tree(inputs) == before_inputs, "something was written beside the input images"
    assert os.stat(os.path.join(root, "good.tar")).st_mtime_ns == before_good
    assert os.listdir(private_tmp) == [], "temp files left behind"


def test_corpus_covers_every_level_and_enough_cases(corpus):
    _, cases = corpus
    levels = {c.level for c in cases.values()}
    assert levels >= {"container", "json", "descriptor", "blob", "compression", "layer-tar", "structure",
                      "docker-manifest", "limits", "odd"}
    broken = [c for c in cases.values() if c.expect == (2,)]
    assert len(broken) >= 30 and all(c.message for c in broken)
    assert {c.expect for c in cases.values() if c.level == "odd"} <= {(0,), (1,)}
    assert len(set(cases)) == len(cases)


def test_generator_is_deterministic_and_writes_cases_json(corpus, tmp_path):
    root, cases = corpus
    names = ["json-config-syntax", "compression-zstd-truncated", "docker-manifest-layer-count", "odd-whiteouts"]
    again = mc.generate(tmp_path, only=names)
    for c in again:
        assert c == cases[c.name]
        for rel in tree(os.path.join(root, c.name)):
            p1, p2 = os.path.join(root, c.name, rel), os.path.join(tmp_path, c.name, rel)
            if os.path.isfile(p1) and not os.path.islink(p1):
                with open(p1, "rb") as f1, open(p2, "rb") as f2:
                    assert f1.read() == f2.read(), rel
    listed = json.loads((tmp_path / "cases.json").read_text())
    assert [c["name"] for c in listed] == names


def _subprocess_sample() -> list[str]:
    """The first case of each level, and the ones whose output encoding matters."""
    first: dict[str, str] = {}
    for name, level in mc.case_levels().items():
        first.setdefault(level, name)
    return sorted(set(first.values()) | {"odd-control-characters", "odd-non-utf8-names", "blob-layer-flipped",
                                          "layer-tar-truncated-hostile-name"})


SUBPROCESS_SAMPLE = _subprocess_sample()


@pytest.mark.parametrize("name", SUBPROCESS_SAMPLE)
def test_corpus_sample_as_a_subprocess(name, corpus, tmp_path):
    root, cases = corpus
    case = cases[name]
    sandbox = tmp_path / "sandbox"
    (sandbox / "tmp").mkdir(parents=True)
    report = str(sandbox / "report")
    env = {**os.environ, "PYTHONPATH": ROOT, "TMPDIR": str(sandbox / "tmp"), "LANG": "C.UTF-8"}
    r = subprocess.run([sys.executable, "-m", "repro", *case.argv(root, report)], capture_output=True, env=env,
                       cwd=str(sandbox), timeout=120)
    out, err = r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")
    check_outcome(case, r.returncode, out, err, str(sandbox), report)
    assert os.listdir(sandbox / "tmp") == []
    assert tree(str(sandbox)) - {"tmp", "report"} == {p for p in tree(str(sandbox)) if p.startswith("report" + os.sep)}
    if case.level == "odd":
        assert not CONTROL.search(out.replace("\n", "")), "raw control characters in the report"


# -- the 1 GiB layer ---------------------------------------------------------------------------

RSS_LIMIT_MB = 200


def run_measured(argv: list[str], cwd: str) -> tuple[int, float, str]:
    """Run `python -m repro ARGV`; (exit code, peak RSS in MiB, stderr), the RSS that
    process's own (tests/peak_rss.py: not inherited from this grown test process)."""
    code, err, rss = run_with_peak_rss([sys.executable, "-m", "repro", *argv],
                                       env={**os.environ, "PYTHONPATH": ROOT}, cwd=cwd, timeout=600)
    return code, rss, err


@pytest.fixture(scope="module")
def big_pair(tmp_path_factory) -> tuple[str, str]:
    return mc.write_big_pair(tmp_path_factory.mktemp("big"), 1 << 30)


def test_diff_of_1gib_layers_stays_under_200mb_rss(big_pair, tmp_path):
    a, b = big_pair
    assert os.path.getsize(a) < 16 << 20  # highly compressible: the archive is small
    code, rss, err = run_measured(["diff", a, b, "--format", "json", "-o", str(tmp_path / "r.json")], str(tmp_path))
    assert code == 1, err
    doc = json.loads((tmp_path / "r.json").read_text())
    assert [(f["path"], f["field"]) for f in doc["findings"]] == [("big", "content")]
    assert rss < RSS_LIMIT_MB, f"peak RSS {rss:.0f} MiB"


def test_1gib_layer_over_max_layer_bytes_is_exit_2_naming_the_flag(big_pair, tmp_path):
    a, b = big_pair
    code, rss, err = run_measured(["diff", a, b, "--max-layer-bytes", str(512 << 20)], str(tmp_path))
    assert code == 2
    assert err.count("\n") == 1 and "exceeds max_layer_bytes=536870912; raise with --max-layer-bytes" in err
    assert rss < RSS_LIMIT_MB
