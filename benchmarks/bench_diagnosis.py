#!/usr/bin/env python3
"""Diagnosis accuracy: does `repro diff` give every differing file its true cause?

    python3 benchmarks/bench_diagnosis.py [--corpus DIR] [--clock "2031-06-01 00:00:00"]
                                          [--frozen] [--jobs 2] [--json OUT] [NAME...]

The corpus (default testdata/diagnosis; a held-out corpus laid out the same way is scored
the same way) is built by testdata/diagnosis/corpus.py: each context twice, on fresh
daemons, cached. For every file the ground truth (Python's tarfile, not repro) says
differs and the context's `expect` file names, the score counts it right when one of
repro's findings on that path has

  * the expected cause id,
  * a non-empty hint, and
  * the instruction that made the file (the config history entry of the layer the
    file differs in, as the image records it).

`repro diff A B --format json` runs under a fixed clock (libfaketime, `--clock`, by default
years after the images were built): the causes must not depend on the day. `--frozen`
adds the frozen pairs of testdata/diagnosis/frozen.py (made years before that clock).

Prints one line per context, the accuracy, and a confusion list (expected → given, with
the files). Files the truth and the expect file disagree on are listed apart and not
scored. Exit 0 when the accuracy reaches --target (95 %), else 1.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DEFAULT_CORPUS = os.path.join(REPO, "testdata", "diagnosis")


def load_script(name: str, path: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    assert spec is not None and spec.loader is not None
    sys.modules.setdefault(name, module)
    spec.loader.exec_module(module)
    return module


corpus = load_script("diagnosis_corpus", os.path.join(REPO, "testdata", "diagnosis", "corpus.py"))


@dataclass
class Case:
    name: str
    a: str
    b: str
    expect: Any


def frozen_cases(tmp: str) -> list[Case]:
    frozen = load_script("diagnosis_frozen", os.path.join(REPO, "testdata", "diagnosis", "frozen.py"))
    out = []
    for name, (a, b, expect_text) in frozen.write_all(tmp).items():
        base, expect, mtimes = corpus.parse_expect(expect_text, name)
        out.append(Case(name, a, b, corpus.Context(name, tmp, "frozen", expect, mtimes)))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="*", help="contexts to score (default: all)")
    ap.add_argument("--corpus", default=DEFAULT_CORPUS)
    ap.add_argument("--clock", default=corpus.LATER_CLOCK,
                    help="the date `repro diff` runs at (libfaketime); '' for the real clock")
    ap.add_argument("--frozen", action="store_true", help="also score the frozen pairs")
    ap.add_argument("--jobs", type=int, default=2, help="contexts built at a time")
    ap.add_argument("--target", type=float, default=95.0)
    ap.add_argument("--json", help="write every score to this file")
    args = ap.parse_args(argv)

    t0 = time.monotonic()
    contexts = corpus.load(args.corpus, args.names or None)
    pairs = corpus.build_all(contexts, args.jobs)
    built = [p for p in pairs.values() if not p.cached]
    build_wall = time.monotonic() - t0
    cases = [Case(c.name, pairs[c.name].a, pairs[c.name].b, c) for c in contexts]
    tmp = tempfile.TemporaryDirectory(prefix="bench-diagnosis-")
    if args.frozen:
        cases += frozen_cases(tmp.name)

    scores: list[Any] = []
    problems: list[str] = []
    diff_seconds = 0.0
    for case in cases:
        truth = corpus.truth(case.a, case.b)
        report, secs = corpus.repro_diff(case.a, case.b, args.clock or None)
        diff_seconds += secs
        got, bad = corpus.score(case.name, case.expect, truth, report)
        scores += got
        problems += bad
        right = sum(s.ok for s in got)
        base = getattr(case.expect, "base", "?")
        print(f"{case.name:32} {base:14} {right:3}/{len(got):<3} "
              + ("ok" if right == len(got) else "MISS " + ", ".join(f"{s.path}: {s.expected}→{s.given} ({'/'.join(s.missing)})"
                                                          for s in got if not s.ok)))
    tmp.cleanup()

    total = len(scores)
    right = sum(s.ok for s in scores)
    accuracy = 100.0 * right / total if total else 0.0
    print()
    print(f"accuracy: {right}/{total} = {accuracy:.1f} % (right cause + non-empty hint + the instruction "
          f"that made the file){' at clock ' + args.clock if args.clock else ''}")
    print(f"contexts: {len(cases)}; pairs built this run: {len(built)} "
          f"({sum(sum(p.seconds) for p in built):.0f} s of builds, {build_wall:.0f} s wall with {args.jobs} jobs); "
          f"repro diff: {diff_seconds:.1f} s in all")
    confusion = Counter((s.expected, s.given) for s in scores)
    print("\nconfusion (expected → given: files):")
    for (exp, giv), n in sorted(confusion.items(), key=lambda kv: (kv[0][0] != kv[0][1], kv[0])):
        mark = "  " if exp == giv else "✗ "
        print(f"  {mark}{exp} → {giv}: {n}")
    wrong = [s for s in scores if not s.ok]
    if wrong:
        print("\nmisses:")
        for s in wrong:
            print(f"  {s.context}: {s.path}: expected {s.expected}, given {s.given}; wrong: {', '.join(s.missing)}")
    if problems:
        print("\nnot scored (the ground truth and the expect file disagree):")
        for p in problems:
            print(f"  {p}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"accuracy": accuracy, "right": right, "total": total, "clock": args.clock,
                       "scores": [asdict(s) for s in scores], "problems": problems}, f, indent=1)
    return 0 if accuracy >= args.target else 1


if __name__ == "__main__":
    sys.exit(main())
