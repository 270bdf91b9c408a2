"""Frozen pairs (testdata/diagnosis/frozen.py): images as BuildKit made them in March
2019, diffed with the clock set in 2019, 2031 and 2046 — the causes must not move."""

from __future__ import annotations

import hashlib

import pytest

from tests.diagnosis import corpus, frozen

CLOCKS = ("2019-03-15 00:00:00", corpus.LATER_CLOCK, "2046-01-01 00:00:00")


@pytest.fixture(scope="module")
def pairs(tmp_path_factory) -> dict[str, tuple[str, str, str]]:
    return frozen.write_all(str(tmp_path_factory.mktemp("frozen")))


def digest(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_frozen_pairs_are_the_same_bytes_on_every_run(pairs, tmp_path):
    again = frozen.write_all(str(tmp_path))
    for name, (a, b, _) in pairs.items():
        assert (digest(a), digest(b)) == (digest(again[name][0]), digest(again[name][1]))


def test_the_ground_truth_of_each_frozen_pair_is_its_expect_file(pairs):
    for name, (a, b, text) in pairs.items():
        base, expect, mtimes = corpus.parse_expect(text, name)
        found = corpus.truth(a, b)
        assert found and corpus.check_expect(corpus.Context(name, "", base, expect, mtimes), found) == []


@pytest.fixture(scope="module")
def reports(pairs) -> dict[str, dict[str, dict]]:
    """clock -> pair name -> `repro diff --format json` report, with repro's clock set."""
    return {clock: {name: corpus.repro_diff(a, b, clock)[0] for name, (a, b, _) in pairs.items()}
            for clock in CLOCKS}


@pytest.mark.parametrize("clock", CLOCKS)
def test_every_frozen_file_gets_its_cause_hint_and_instruction_at_any_date(pairs, reports, clock):
    for name, (a, b, text) in pairs.items():
        base, expect, mtimes = corpus.parse_expect(text, name)
        scores, problems = corpus.score(name, corpus.Context(name, "", base, expect, mtimes),
                                        corpus.truth(a, b), reports[clock][name])
        assert problems == [] and scores
        assert [s for s in scores if not s.ok] == []


def test_the_same_pair_gets_the_same_causes_whatever_day_it_is_diffed(reports):
    def causes(report: dict) -> list[tuple]:
        return [(f["kind"], f["field"], f.get("path"), f.get("cause"), f.get("hint")) for f in report["findings"]]

    first = reports[CLOCKS[0]]
    for clock in CLOCKS[1:]:
        for name in first:
            assert causes(reports[clock][name]) == causes(first[name]), (clock, name)


@pytest.mark.parametrize("clock", CLOCKS)
def test_the_clock_repro_runs_under_is_really_set(clock):
    """The fixed clock is not a no-op: a Python started with corpus.clock_env reads it."""
    import subprocess
    import sys
    from datetime import datetime, timezone

    out = subprocess.run([sys.executable, "-c", "import time; print(time.time())"], capture_output=True,
                         text=True, env=corpus.clock_env(clock), check=True).stdout
    want = datetime.strptime(clock, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc).timestamp()
    assert abs(float(out) - want) < 600
