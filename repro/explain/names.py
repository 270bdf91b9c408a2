"""Files present on one side only whose names differ from a file on the other side only
by a date or a random part: `run-1795883274.log` against `run-1795883276.log`,
`work.Ar522W` against `work.pL7BpW` (and the files under them). Paired per platform,
layer and depth; each of the two presence findings gets `paired_with` (the other path)
and `timestamps` or `random`, which the content rules of the catalogue read.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from repro.diff.finding import Finding
from repro.explain import heuristics

MAX_PAIRS = 250_000  # candidate pairs looked at per platform, layer and depth


def _name_evidence(pa: str, pb: str, clock: heuristics.Clock) -> dict[str, Any] | None:
    """What makes two paths of one shape differ: dates or random parts in the components
    that differ; None when something else differs."""
    ca, cb = pa.split("/"), pb.split("/")
    if len(ca) != len(cb):
        return None
    stamps: list[dict[str, Any]] = []
    random: dict[str, Any] | None = None
    for x, y in zip(ca, cb):
        if x == y:
            continue
        found = heuristics.timestamps_in(x, y, clock)
        if found:
            stamps += found
            continue
        r = heuristics.random_strings(x, y)
        if r is None:
            # a random part inside a longer name: `tmp.AbC123` against `tmp.XyZ789`
            pre = len(_common_prefix(x, y))
            suf = len(_common_prefix(x[pre:][::-1], y[pre:][::-1]))
            if len(x) == len(y) and pre + suf < len(x):
                r = heuristics.random_strings(x[pre : len(x) - suf], y[pre : len(y) - suf])
        if r is None:
            return None
        random = r
    if stamps:
        return {"timestamps": stamps[: heuristics.MAX_LISTED]}
    if random:
        return {"random": random}
    return None


def _common_prefix(a: str, b: str) -> str:
    n = 0
    while n < len(a) and n < len(b) and a[n] == b[n]:
        n += 1
    return a[:n]


def pair_names(findings: list[Finding], clock: heuristics.Clock) -> dict[int, dict[str, Any]]:
    """Detail for presence findings whose path, on the other side, has the same shape
    with a date or a random part changed (per platform and layer)."""
    only_a: dict[tuple, list[int]] = defaultdict(list)
    only_b: dict[tuple, list[int]] = defaultdict(list)
    for i, f in enumerate(findings):
        if f.kind == "file" and f.field == "presence" and f.path and f.a != f.b:
            key = (f.platform, f.layer, f.path.count("/"))
            (only_a if f.a else only_b)[key].append(i)
    out: dict[int, dict[str, Any]] = {}
    for key, ia in only_a.items():
        free = list(only_b.get(key, ()))
        if not free or len(ia) * len(free) > MAX_PAIRS:
            continue
        for i in ia:
            pa = findings[i].path or ""
            for j in free:
                pb = findings[j].path or ""
                ev = _name_evidence(pa, pb, clock)
                if ev is not None:
                    out[i] = {"paired_with": pb, **ev}
                    out[j] = {"paired_with": pa, **ev}
                    free.remove(j)
                    break
    return out
