"""The diagnosis corpus (testdata/diagnosis): every context built twice on fresh daemons,
the differing files found with tarfile, and every one of them given its true cause, a
hint and the instruction that made it by `repro diff`, run with the clock set years
after the builds.

Building the corpus is the slow part of the suite (see testdata/diagnosis/README.md for
what it costs); pairs are cached under ~/.cache/repro/diagnosis, so a second run only
diffs. benchmarks/bench_diagnosis.py prints the same scores as an accuracy and a
confusion list.
"""

from __future__ import annotations

import os

import pytest

from tests.diagnosis import corpus

CONTEXTS = corpus.load()
pytestmark = pytest.mark.buildkit


@pytest.fixture(scope="session")
def pairs(buildkit_tools, debian_base) -> dict:
    return corpus.build_all(CONTEXTS, jobs=2)


def test_the_debian_cases_build_on_the_debian_base_fixture(debian_base):
    """`FROM base` of a Debian case is the suite's `debian_base` (debootstrap minbase
    bookworm, the same cached OCI layout), or a base built on it from bases/NAME."""
    assert corpus.base_image("debian", log=None) == (debian_base.path, debian_base.digest)
    derived = sorted({c.base for c in CONTEXTS} - {"busybox", "debian"})
    assert derived and all(os.path.isfile(os.path.join(corpus.BASES_DIR, d, "Dockerfile")) for d in derived)
    for d in derived:
        with open(os.path.join(corpus.BASES_DIR, d, "Dockerfile"), encoding="utf-8") as f:
            code = [line for line in f.read().splitlines() if line.strip() and not line.startswith("#")]
        assert code[0] == "FROM base", d


def test_the_corpus_has_busybox_and_debian_cases():
    bases = [c.base for c in CONTEXTS]
    assert len(CONTEXTS) >= 25 and bases.count("busybox") >= 15
    assert sum(b.startswith("debian") for b in bases) >= 8


@pytest.mark.parametrize("ctx", CONTEXTS, ids=[c.name for c in CONTEXTS])
def test_context(pairs, ctx):
    pair = pairs[ctx.name]
    found = corpus.truth(pair.a, pair.b)
    assert corpus.check_expect(ctx, found) == []
    report, _ = corpus.repro_diff(pair.a, pair.b, corpus.LATER_CLOCK)
    scores, _ = corpus.score(ctx.name, ctx, found, report)
    assert [s for s in scores if not s.ok] == []
    if not ctx.expect:
        assert report["verdict"] == "reproducible"


def test_a_held_out_corpus_may_bring_bases_of_its_own(tmp_path, monkeypatch):
    monkeypatch.setattr(corpus, "BASES_DIRS", list(corpus.BASES_DIRS))
    (tmp_path / "bases" / "debian-extra").mkdir(parents=True)
    (tmp_path / "bases" / "debian-extra" / "Dockerfile").write_text("FROM base\nRUN true\n")
    case = tmp_path / "deb-extra-stamp"
    case.mkdir()
    (case / "Dockerfile").write_text("FROM base\nRUN date +%s > /stamp\n")
    (case / "expect").write_text("# base: debian-extra\nstamp embedded-timestamp\n")
    (ctx,) = corpus.load(str(tmp_path))
    assert ctx.base == "debian-extra" and ctx.expect[0].cause == "embedded-timestamp"
    assert corpus.base_dir("debian-extra") == str(tmp_path / "bases" / "debian-extra")
    assert corpus.base_dir("debian-python") == os.path.join(corpus.BASES_DIR, "debian-python")
